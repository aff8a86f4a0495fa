import type { Redis } from "ioredis";
import { resumeWritesOf } from "../core/observability/anomaly.ts";
import type { AuditLog } from "../core/audit/log.ts";
import type { Config } from "../core/config/config.ts";
import { describeError } from "../core/errors.ts";
import type { Identity } from "../core/identity/identity.ts";
import { isAuthorisedApprover } from "../executor/approvers.ts";
import type { UserGroupChecker } from "./approvers.ts";

/**
 * Lifting the anomaly write pause from Slack (`/deputy resume-writes`, or the
 * button on the alert): only an authorised approver, by the same rules the
 * executor applies to approvals, and always audited, refused or not.
 */
export interface WritePauseControl {
  /** A sentence for the person: resumed, nothing to resume, or refused. Default: every served cluster. */
  resume(by: Identity, clusters?: readonly string[]): Promise<{ resumed: boolean; text: string }>;
}

export function createWritePauseControl(deps: {
  redis: Redis;
  prefix: string;
  /** Every served cluster's pause is lifted, each named in the reply and the audit. */
  clusterNames: readonly string[];
  approvals: Pick<Config["approvals"], "approvers" | "approverGroup">;
  isInGroup: UserGroupChecker | undefined;
  audit: AuditLog | undefined;
}): WritePauseControl {
  return {
    async resume(by, clusters = deps.clusterNames) {
      const authorised = await isAuthorisedApprover(
        {
          slackUserIds: deps.approvals.approvers,
          group: deps.approvals.approverGroup,
          isInGroup: deps.isInGroup,
          localApproverIds: [],
        },
        by,
      ).catch(() => false);
      if (!authorised) {
        const text = `<@${by.id}> is not an authorised approver, so cannot resume writes; nothing changed.`;
        deps.audit?.record({
          kind: "anomaly",
          rule: "writes-resume-refused",
          decision: "refused",
          actor: by,
          message: `${by.id} tried to resume write approvals but is not an approver`,
        });
        return { resumed: false, text };
      }
      let lifted;
      try {
        lifted = await resumeWritesOf(deps.redis, deps.prefix, clusters);
      } catch (error) {
        return { resumed: false, text: `Deputy could not resume writes: ${describeError(error)}` };
      }
      if (lifted.length === 0) {
        const where =
          clusters.length === 1 && deps.clusterNames.length > 1 ? ` in cluster ${clusters[0]}` : "";
        return { resumed: false, text: `Writes are not paused${where}; nothing to resume.` };
      }
      const named = deps.clusterNames.length > 1;
      const texts = lifted.map((pause) => {
        const where = named ? ` in cluster ${pause.cluster}` : "";
        deps.audit?.record({
          kind: "anomaly",
          rule: "writes-resumed",
          actor: by,
          approver: by,
          cluster: pause.cluster,
          message: `${by.id} resumed write approvals${where} (paused by ${pause.rule} since ${pause.since})`,
        });
        return `Write approvals resumed${where} by <@${by.id}> (they were paused by ${pause.rule} since ${pause.since}).`;
      });
      return { resumed: true, text: texts.join(" ") };
    },
  };
}
