import { z } from "zod";
import { containerName, labelSelector, namespaceName, objectName } from "../../../../core/kube/names.ts";

/** Argument schemas shared by the read tools, with descriptions written for a model. */
export const namespaceArg = namespaceName.describe("namespace");
export const optionalNamespaceArg = namespaceName.optional().describe("namespace; omit for all");
export const podArg = objectName("pod name").describe("exact pod name");
export const nodeArg = objectName("node name").describe("node name");
export const deploymentArg = objectName("deployment name").describe("Deployment name");
export const containerArg = containerName.optional().describe("default: the main container");
export const selectorArg = labelSelector.optional().describe("label selector, e.g. app=checkout");
export const fieldSelectorArg = z
  .string()
  .max(1024)
  .regex(/^[A-Za-z0-9_.\-/]+(==?|!=)[A-Za-z0-9_.\-:/]*(,[A-Za-z0-9_.\-/]+(==?|!=)[A-Za-z0-9_.\-:/]*)*$/, {
    message: "field selector must look like status.phase=Running or spec.nodeName=node-a (comma-separated)",
  })
  .optional()
  .describe("e.g. status.phase=Pending");
export const limitArg = (fallback: number, max: number) =>
  z.number().int().min(1).max(max).default(fallback).describe("page size");
export const continueArg = z
  .string()
  .max(4096)
  .regex(/^[A-Za-z0-9+/=_-]*$/, { message: "continue must be the token returned by the previous page" })
  .optional()
  .describe("token from the previous page");
