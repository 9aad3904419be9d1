// What this page's token may do (GET /api/v1/whoami, asked once per page), so the pages offer
// only that and, where they cannot, name the scope an action needs instead of failing later.

import { getJSON } from "./api.js";

let asked = null;

/** Resolves to {scope, project, auth}, or null when the server cannot say (no valid token yet,
 * or a network failure): then actions are offered and the server's refusal says why. */
export function whoami() {
  if (!asked) asked = getJSON("/api/v1/whoami").catch(() => null);
  return asked;
}

/** Whether `who` may do what needs `scope`, on `project` when given. */
export function may(who, scope, project = null) {
  if (!who) return true;
  const scoped = who.scope === "admin" || who.scope === scope;
  return scoped && (!project || !who.project || who.project === project);
}

/** Why `who` may not: the scope `what` needs and the token's, or the project it is limited to. */
export function needs(who, scope, what, project = null) {
  if (who && who.scope !== "admin" && who.scope !== scope) {
    return `${what} needs the '${scope}' scope; this token has '${who.scope}'.`;
  }
  if (who && project && who.project && who.project !== project) {
    return `${what}: this token is limited to project '${who.project}'.`;
  }
  return "";
}
