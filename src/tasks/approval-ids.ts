/**
 * Approval ids: `ap_` + the task id's 26 characters + 26 random ones (Crockford base32, upper case).
 * The task part only says which task object to ask; the object holds the record or answers unknown,
 * and a retried call is checked against the task of its verified token, never against this id alone.
 */
import { isTaskId } from "../identity/task-token";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const APPROVAL_ID = /^ap_([0-9A-HJKMNP-TV-Z]{26})([0-9A-HJKMNP-TV-Z]{26})$/;

export function newApprovalId(taskId: string): string {
  if (!isTaskId(taskId)) throw new Error("approval id: not a task id");
  const bytes = crypto.getRandomValues(new Uint8Array(26));
  let random = "";
  for (const b of bytes) random += CROCKFORD[b & 31];
  return `ap_${taskId.slice(2)}${random}`;
}

/** The task id inside a well-formed approval id, or null (any other value: case, space, length). */
export function taskIdOfApproval(id: unknown): string | null {
  if (typeof id !== "string") return null;
  const m = APPROVAL_ID.exec(id);
  return m ? `t_${m[1]}` : null;
}
