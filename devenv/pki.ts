import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { DeputyError } from "../core/errors.ts";

const execFileAsync = promisify(execFile);

/**
 * The test environment's PKI, made with openssl (present on the machine):
 * one CA signs the API server's serving cert, the fake kubelet's serving
 * cert and the client certs; a separate key signs service-account tokens.
 * EC P-256 keys keep generation well under a second.
 */
export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  adminCert: string;
  adminKey: string;
  controllerManagerCert: string;
  controllerManagerKey: string;
  simulatorCert: string;
  simulatorKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  kubeletServingCert: string;
  kubeletServingKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

export function pkiPaths(dir: string): Pki {
  const pair = (name: string): [string, string] => [join(dir, `${name}.crt`), join(dir, `${name}.key`)];
  const [caCert, caKey] = pair("ca");
  const [apiserverCert, apiserverKey] = pair("apiserver");
  const [adminCert, adminKey] = pair("admin");
  const [controllerManagerCert, controllerManagerKey] = pair("controller-manager");
  const [simulatorCert, simulatorKey] = pair("simulator");
  const [kubeletClientCert, kubeletClientKey] = pair("apiserver-kubelet-client");
  const [kubeletServingCert, kubeletServingKey] = pair("kubelet");
  return {
    dir,
    caCert,
    caKey,
    apiserverCert,
    apiserverKey,
    adminCert,
    adminKey,
    controllerManagerCert,
    controllerManagerKey,
    simulatorCert,
    simulatorKey,
    kubeletClientCert,
    kubeletClientKey,
    kubeletServingCert,
    kubeletServingKey,
    serviceAccountKey: join(dir, "sa.key"),
    serviceAccountPub: join(dir, "sa.pub"),
  };
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync("openssl", args, { cwd });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new DeputyError("TESTENV_FAILED", `openssl ${args[0]} failed: ${stderr.trim() || String(error)}`, {
      cause: error,
    });
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function leaf(
  pki: Pki,
  cert: string,
  key: string,
  subject: string,
  usage: "serverAuth" | "clientAuth",
  sans: string[] = [],
): Promise<void> {
  const csr = `${cert}.csr`;
  const ext = `${cert}.ext`;
  const lines = [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    `extendedKeyUsage=${usage}`,
  ];
  if (sans.length > 0) lines.push(`subjectAltName=${sans.join(",")}`);
  await writeFile(ext, `${lines.join("\n")}\n`);
  await openssl(["req", "-new", ...EC, "-keyout", key, "-out", csr, "-subj", subject], pki.dir);
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      pki.caCert,
      "-CAkey",
      pki.caKey,
      // A random serial per cert: leaves are signed in parallel, so no shared serial file.
      "-set_serial",
      `0x${randomBytes(16).toString("hex")}`,
      "-days",
      "365",
      "-extfile",
      ext,
      "-out",
      cert,
    ],
    pki.dir,
  );
}

/** Generate a fresh PKI in `dir` (overwriting any old one). */
export async function generatePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pki = pkiPaths(dir);
  await openssl(
    [
      "req",
      "-x509",
      ...EC,
      "-keyout",
      pki.caKey,
      "-out",
      pki.caCert,
      "-days",
      "3650",
      "-subj",
      "/CN=deputy-testenv-ca",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    ],
    dir,
  );
  const apiserverSans = [
    "IP:127.0.0.1",
    "DNS:localhost",
    "IP:10.0.0.1",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
  ];
  await Promise.all([
    leaf(pki, pki.apiserverCert, pki.apiserverKey, "/CN=kube-apiserver", "serverAuth", apiserverSans),
    leaf(pki, pki.adminCert, pki.adminKey, "/O=system:masters/CN=deputy-testenv-admin", "clientAuth"),
    leaf(
      pki,
      pki.controllerManagerCert,
      pki.controllerManagerKey,
      "/O=system:masters/CN=system:kube-controller-manager",
      "clientAuth",
    ),
    leaf(
      pki,
      pki.simulatorCert,
      pki.simulatorKey,
      "/O=system:masters/CN=deputy-testenv-simulator",
      "clientAuth",
    ),
    leaf(
      pki,
      pki.kubeletClientCert,
      pki.kubeletClientKey,
      "/O=system:masters/CN=kube-apiserver-kubelet-client",
      "clientAuth",
    ),
    leaf(pki, pki.kubeletServingCert, pki.kubeletServingKey, "/CN=fake-kubelet", "serverAuth", [
      "IP:127.0.0.1",
      "DNS:localhost",
    ]),
    openssl(
      ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pki.serviceAccountKey],
      dir,
    ),
  ]);
  await openssl(["pkey", "-in", pki.serviceAccountKey, "-pubout", "-out", pki.serviceAccountPub], dir);
  return pki;
}
