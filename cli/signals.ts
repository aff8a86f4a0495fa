/**
 * The first SIGTERM (a pod's termination) or SIGINT (Ctrl-C) a long-running
 * command receives once it is up: the command then says it is stopping,
 * closes what it started and says it stopped, on stderr beside its start line.
 */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
}
