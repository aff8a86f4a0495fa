import type { Redis } from "ioredis";
import { resumeWrites } from "../core/anomaly.ts";
import type { AuditLog } from "../core/audit.ts";
import type { Config } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import type { Identity } from "../core/identity.ts";
import { isAuthorisedApprover } from "../executor/approvers.ts";
import type { UserGroupChecker } from "./approvers.ts";

/**
 * Lifting the anomaly write pause from Slack (`/deputy resume-writes`, or the
 * button on the alert): only an authorised approver, by the same rules the
 * executor applies to approvals, and always audited, refused or not.
 */
export interface WritePauseControl {
  /** A sentence for the person: resumed, nothing to resume, or refused. */
  resume(by: Identity): Promise<{ resumed: boolean; text: string }>;
}

export function createWritePauseControl(deps: {
  redis: Redis;
  prefix: string;
  approvals: Pick<Config["approvals"], "approvers" | "approverGroup">;
  isInGroup: UserGroupChecker | undefined;
  audit: AuditLog | undefined;
}): WritePauseControl {
  return {
    async resume(by) {
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
        lifted = await resumeWrites(deps.redis, deps.prefix);
      } catch (error) {
        return { resumed: false, text: `Deputy could not resume writes: ${describeError(error)}` };
      }
      if (!lifted) return { resumed: false, text: "Writes are not paused; nothing to resume." };
      deps.audit?.record({
        kind: "anomaly",
        rule: "writes-resumed",
        actor: by,
        approver: by,
        message: `${by.id} resumed write approvals (paused by ${lifted.rule} since ${lifted.since})`,
      });
      return {
        resumed: true,
        text: `Write approvals resumed by <@${by.id}> (they were paused by ${lifted.rule} since ${lifted.since}).`,
      };
    },
  };
}
