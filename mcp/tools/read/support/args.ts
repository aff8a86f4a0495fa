import { z } from "zod";
import { containerName, labelSelector, namespaceName, objectName } from "../../../../core/kube/names.ts";

/** Argument schemas shared by the read tools, with descriptions written for a model. */
export const namespaceArg = namespaceName.describe("Kubernetes namespace, e.g. shop");
export const optionalNamespaceArg = namespaceName
  .optional()
  .describe("Kubernetes namespace; omit to search every namespace Deputy may read");
export const podArg = objectName("pod name").describe("exact pod name, e.g. checkout-7d9f8b6c5-x2x4q");
export const nodeArg = objectName("node name").describe("node name");
export const deploymentArg = objectName("deployment name").describe("Deployment name, e.g. checkout");
export const containerArg = containerName
  .optional()
  .describe("container name; defaults to the pod's main container");
export const selectorArg = labelSelector.optional();
export const fieldSelectorArg = z
  .string()
  .max(1024)
  .regex(/^[A-Za-z0-9_.\-/]+(==?|!=)[A-Za-z0-9_.\-:/]*(,[A-Za-z0-9_.\-/]+(==?|!=)[A-Za-z0-9_.\-:/]*)*$/, {
    message: "field selector must look like status.phase=Running or spec.nodeName=node-a (comma-separated)",
  })
  .optional()
  .describe("field selector, e.g. status.phase=Pending or spec.nodeName=node-a");
export const limitArg = (fallback: number, max: number) =>
  z.number().int().min(1).max(max).default(fallback).describe(`page size (1–${max}, default ${fallback})`);
export const continueArg = z
  .string()
  .max(4096)
  .regex(/^[A-Za-z0-9+/=_-]*$/, { message: "continue must be the token returned by the previous page" })
  .optional()
  .describe("the `continue` token from the previous page");
