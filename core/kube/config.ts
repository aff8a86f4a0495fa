import { KubeConfig } from "@kubernetes/client-node";
import { DeputyError, describeError } from "../errors.ts";

/**
 * Where a KubeConfig comes from: a kubeconfig file (local use, tests), the
 * pod's service account (in cluster), or a token minted for one action (the
 * executor's just-in-time credential).
 */
export interface KubeConfigSource {
  /** Path to a kubeconfig file; unset means in-cluster when available, else the default loading rules. */
  kubeconfig?: string | undefined;
  context?: string | undefined;
}

export function loadKubeConfig(source: KubeConfigSource = {}): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (source.kubeconfig) kc.loadFromFile(source.kubeconfig);
    else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else kc.loadFromDefault();
    if (source.context) kc.setCurrentContext(source.context);
  } catch (error) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `could not load Kubernetes credentials${source.kubeconfig ? ` from ${source.kubeconfig}` : ""}: ${describeError(error)}`,
      { cause: error },
    );
  }
  if (!kc.getCurrentCluster()) {
    throw new DeputyError("CONFIG_INVALID", "the Kubernetes configuration has no current cluster");
  }
  return kc;
}

export interface TokenCredential {
  server: string;
  /** PEM of the cluster CA, as text or base64 (kubeconfig's certificate-authority-data). */
  caData?: string | undefined;
  token: string;
  /** A label for logs and agent caching; never the token. */
  name?: string;
}

/** A KubeConfig holding only a bearer token: for credentials minted per action. */
export function kubeConfigFromToken(credential: TokenCredential): KubeConfig {
  if (!/^https?:\/\//.test(credential.server)) {
    throw new DeputyError("INPUT_INVALID", `Kubernetes server "${credential.server}" is not an http(s) URL`);
  }
  if (!credential.token) throw new DeputyError("INPUT_INVALID", "a Kubernetes token is required");
  const name = credential.name ?? "deputy-token";
  const caData =
    credential.caData === undefined
      ? undefined
      : credential.caData.includes("-----BEGIN")
        ? Buffer.from(credential.caData).toString("base64")
        : credential.caData;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name, server: credential.server, caData, skipTLSVerify: false }],
    users: [{ name, token: credential.token }],
    contexts: [{ name, cluster: name, user: name }],
    currentContext: name,
  });
  return kc;
}
