/**
 * Shared by the dashboard tests: the page as an operator (or anyone) asks for it, the directory's
 * snapshot, and the table row of a task or an approval in the page's HTML.
 */
import { env as workerEnv } from "cloudflare:workers";
import type { Env } from "../../src/env";
import { DIRECTORY_NAME, type DirectorySnapshot } from "../../src/tasks/directory-object";
import { ISSUERS, token } from "../helpers/tokens";
import { BASE, bindings, gatewayApp } from "./support";

export const env = workerEnv as unknown as Env;
export const app = gatewayApp();
export const PATH = "/_firebreak/v1/dashboard";
export const ISSUE = "/github/repos/acme/api/issues/1";

export const operatorWorkload = () => token({ sub: "operator-1" });
export const operatorPerson = () =>
  token({ key: "es256", iss: ISSUERS.people, sub: "operator-1", claims: { groups: [] } });

export async function dashboard(
  headers: Record<string, string> = {},
  query = "",
  e: Record<string, unknown> = bindings,
) {
  const res = await app.fetch(new Request(`${BASE}${PATH}${query}`, { headers }), e as never);
  return { res, html: await res.text() };
}
export const asOperator = async (query = "", e?: Record<string, unknown>) =>
  dashboard({ "cf-access-jwt-assertion": await operatorPerson() }, query, e);

export const directory = () => env.DIRECTORY!.getByName(DIRECTORY_NAME);
export const snapshot = () => directory().snapshot(Date.now(), 200) as Promise<DirectorySnapshot>;

/** The table row that holds `marker` (a task id, an approval link), or "" when the page has none. */
export function rowOf(html: string, marker: string): string {
  const at = html.indexOf(marker);
  if (at === -1) return "";
  return html.slice(html.lastIndexOf("<tr>", at), html.indexOf("</tr>", at));
}
