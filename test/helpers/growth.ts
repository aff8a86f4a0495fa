/**
 * How much longer `work` takes on input 4× larger: about 4 for linear work,
 * about 16 for quadratic. The best of five runs each, with a 2 ms floor, so
 * a loaded machine shifts both sides alike instead of failing the test.
 */
export function growthOnFourfoldInput(work: (size: number) => void, size: number): number {
  const best = (n: number): number => {
    let fastest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      work(n);
      fastest = Math.min(fastest, performance.now() - started);
    }
    return Math.max(fastest, 2);
  };
  work(size * 4); // warm the code paths (JIT, regex compilation) before either side is timed
  return best(size * 4) / best(size);
}
