/**
 * GET /_firebreak/v1/dashboard: the operator dashboard (docs/dashboard.md), for a person or workload
 * matching `settings.admins`, never a task token. Operators are people behind Cloudflare Access, so the
 * token is read as the approval page reads it (Access header, bearer, CF_Authorization cookie); the
 * page only reads, so an ambient credential is fine here (the JSON API's operator routes that change
 * state take a bearer token only). `?since=1h|24h|7d` (default 24h) picks the decisions' period.
 *
 * The decision figures and the live part are gathered in parallel and neither can fail the page: no
 * decision source, a failed query, a directory or task object that does not answer each render as a
 * plain note in their own part.
 */
import { type Context, Hono } from "hono";
import { personToken } from "../approvals/approvers";
import { DEFAULT_PERIOD, figures, isPeriod, PERIODS } from "../dashboard/figures";
import { live } from "../dashboard/live";
import { DashboardPage } from "../dashboard/page";
import { workerSource } from "../decisions/source";
import type { BundleState } from "../policy/load";
import { htmlPage } from "../ui/index";
import { type Answer, type OperatorEnv, operator, withBundle } from "./auth";
import { type ApiEnv, envOf, nowMs, refusalPage } from "./common";

const TITLES = { signIn: "Sign in to see the dashboard", refused: "No dashboard here" };

export function dashboardApi(getBundle: () => BundleState): Hono<ApiEnv> {
  const api = new Hono<ApiEnv>();
  api.get("/", withBundle(getBundle, page), operator(personToken, page), dashboard);
  return api;
}

/** A refusal as a page (the same status and reason code as the JSON answer). */
const page: Answer = (c, refusal) => refusalPage(c, refusal, TITLES);

/** The page for one period: the decision figures and the live part, gathered in parallel. */
async function dashboard(c: Context<OperatorEnv>): Promise<Response> {
  const { bundle, caller } = c.var;
  const params = new URL(c.req.url).searchParams;
  const since = params.getAll("since");
  const unknown = [...params.keys()].some((k) => k !== "since");
  if (unknown || since.length > 1 || (since.length === 1 && !isPeriod(since[0]))) {
    const periods = Object.keys(PERIODS).join(", ");
    const message = `The dashboard takes one parameter, since: ${periods}.`;
    return refusalPage(c, { ok: false, reason: "decisions.invalid_query" }, TITLES, message);
  }
  const period = isPeriod(since[0]) ? since[0] : DEFAULT_PERIOD;
  const now = nowMs(c);
  const [figs, listed] = await Promise.all([figures(workerSource(envOf(c)), period, now), live(c.env ?? {}, now)]);
  return htmlPage(
    c,
    DashboardPage({ period, figures: figs, live: listed, manifest: bundle.spec.manifest, by: caller.by, now }),
  );
}
