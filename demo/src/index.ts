/**
 * The demo upstream behind `npm start`: one small worker that answers like GitHub, Slack and Stripe for
 * the README's example calls, with plausible JSON, and remembers what it received so you can see what
 * Firebreak forwarded (GET /_demo/requests, DELETE /_demo/requests to clear).
 *
 * The dev overlay (policies/dev/dev.yaml) points each service at http://127.0.0.1:8788/<service>, so
 * paths arrive as /github/..., /slack/..., /stripe/.... Credentials are never stored or shown in full:
 * a recorded Authorization header reads like `Bearer dev-git…(25 chars)`. /github is also the dev GitHub
 * App's side of GitHub (demo/src/dev-app.ts): installation tokens for the dev overlay's `credentials:`.
 *
 * State lives in module memory: one `wrangler dev` isolate, reset on every restart. Local only.
 */
import { type Context, Hono } from "hono";
import { crm } from "./crm";
import { githubAppRoutes } from "./dev-app";
import { calendar, drive, gmail } from "./google";
import { jira, notion } from "./jira-notion";

type Args = Record<string, unknown>;
type Ctx = Context<{ Variables: { args: Args } }>;

interface Received {
  id: number;
  at: string;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string | null;
}

const KEEP = 50;
const BODY_LIMIT = 2048;
/** Headers whose values are credentials: recorded as a fingerprint, never in full. */
const SECRET_HEADERS = new Set(["authorization", "proxy-authorization", "cookie", "x-api-key", "stripe-account"]);

const received: Received[] = [];
let nextId = 1;
const merged = new Set<string>();

/** `Bearer dev-github-token-not-real` -> `Bearer dev-git…(25 chars)`. */
export function fingerprint(value: string): string {
  const space = value.indexOf(" ");
  const scheme = space === -1 ? "" : `${value.slice(0, space)} `;
  const credential = space === -1 ? value : value.slice(space + 1);
  const shown = credential.length > 12 ? credential.slice(0, 7) : "";
  return `${scheme}${shown}…(${credential.length} chars)`;
}

function parseArgs(contentType: string, text: string, query: Record<string, string>): Args {
  const args: Args = { ...query };
  if (!text) return args;
  if (contentType.includes("application/json")) {
    try {
      const parsed = JSON.parse(text);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) Object.assign(args, parsed);
    } catch {
      // not JSON after all: keep the query arguments only
    }
  } else if (contentType.includes("application/x-www-form-urlencoded")) {
    for (const [k, v] of new URLSearchParams(text)) args[k] = v;
  }
  return args;
}

const app = new Hono<{ Variables: { args: Args } }>();

// ------------------------------------------------------------------ the record
// Newest first, pretty-printed for reading in a terminal; `?limit=N` keeps the newest N.
app.get("/_demo/requests", (c) => {
  const limit = Number(c.req.query("limit") ?? KEEP);
  const requests = [...received].reverse().slice(0, limit > 0 ? limit : KEEP);
  return c.body(`${JSON.stringify({ count: requests.length, requests }, null, 2)}\n`, 200, {
    "content-type": "application/json; charset=utf-8",
  });
});
app.delete("/_demo/requests", (c) => {
  received.length = 0;
  return c.json({ cleared: true });
});
app.get("/", (c) =>
  c.json({
    demo: "Firebreak demo upstream (GitHub, Slack and Stripe look-alikes)",
    services: ["/github/...", "/slack/api/<method>", "/stripe/v1/...", "/crm/mcp (MCP)"],
    received: "/_demo/requests",
  }),
);

app.use("*", async (c, next) => {
  const url = new URL(c.req.url);
  const query = Object.fromEntries(url.searchParams);
  const headers: Record<string, string> = {};
  c.req.raw.headers.forEach((value, name) => {
    headers[name] = SECRET_HEADERS.has(name) ? fingerprint(value) : value;
  });
  const text = c.req.method === "GET" || c.req.method === "HEAD" ? "" : await c.req.text();
  received.push({
    id: nextId++,
    at: new Date().toISOString(),
    method: c.req.method,
    path: url.pathname,
    query,
    headers,
    body: text ? (text.length > BODY_LIMIT ? `${text.slice(0, BODY_LIMIT)}…` : text) : null,
  });
  if (received.length > KEEP) received.splice(0, received.length - KEEP);
  c.set("args", parseArgs(c.req.header("content-type") ?? "", text, query));
  await next();
});

// ------------------------------------------------------------------ approval notifications
// `npm start` points FIREBREAK_APPROVAL_WEBHOOK here: the gateway's Slack-compatible message about a new
// approval lands in the record above (GET /_demo/requests), answered like Slack's incoming webhook.
app.post("/_demo/webhook", (c) => c.text("ok"));

// ------------------------------------------------------------------ GitHub
const GH = "https://api.github.com";
const gh = new Hono<{ Variables: { args: Args } }>();

gh.use("*", async (c, next) => {
  if (!c.req.header("authorization")) {
    return c.json({ message: "Requires authentication", documentation_url: "https://docs.github.com/rest" }, 401);
  }
  await next();
});
// The dev GitHub App (demo/src/dev-app.ts): installation tokens, their revocation, and refusals of what a
// token it minted does not cover. The static dev token goes on to the routes below.
gh.use("*", githubAppRoutes());

const user = (login: string, id: number) => ({ login, id, type: "User", html_url: `https://github.com/${login}` });

function repo(owner: string, name: string) {
  return {
    id: 4242,
    name,
    full_name: `${owner}/${name}`,
    private: true,
    owner: { login: owner, id: 100, type: "Organization" },
    html_url: `https://github.com/${owner}/${name}`,
    url: `${GH}/repos/${owner}/${name}`,
    default_branch: "main",
    visibility: "private",
    open_issues_count: 3,
  };
}

const ISSUE_TITLES = ["Login fails with SSO", "Flaky test in billing", "Docs: typo in README"];

function issue(owner: string, name: string, n: number, extra: Args = {}) {
  return {
    id: 90000 + n,
    number: n,
    title: ISSUE_TITLES[(n - 1) % ISSUE_TITLES.length] ?? `Issue ${n}`,
    state: "open",
    user: user("octocat", 1),
    labels: [{ id: 1, name: "bug", color: "d73a4a" }],
    comments: 2,
    body: "Steps to reproduce: ...",
    url: `${GH}/repos/${owner}/${name}/issues/${n}`,
    html_url: `https://github.com/${owner}/${name}/issues/${n}`,
    created_at: "2026-04-01T09:00:00Z",
    updated_at: "2026-04-20T16:30:00Z",
    ...extra,
  };
}

function pull(owner: string, name: string, n: number) {
  const key = `${owner}/${name}#${n}`;
  return {
    id: 70000 + n,
    number: n,
    title: n === 1 ? "Release v1.2.0" : `Pull request ${n}`,
    state: merged.has(key) ? "closed" : "open",
    merged: merged.has(key),
    mergeable: true,
    draft: false,
    user: user("release-bot", 2),
    head: { ref: "release/v1.2.0", sha: "6dcb09b5b57875f334f61aebed695e2e4193db5e" },
    base: { ref: "main", sha: "e5bd3914e2e596debea16f433f57875b5b90bcd6" },
    url: `${GH}/repos/${owner}/${name}/pulls/${n}`,
    html_url: `https://github.com/${owner}/${name}/pull/${n}`,
  };
}

const num = (c: Ctx, name: string) => Number(c.req.param(name)) || 1;

gh.get("/repos/:owner/:repo", (c) => c.json(repo(c.req.param("owner"), c.req.param("repo"))));
gh.get("/repos/:owner/:repo/issues", (c) => {
  const { owner, repo } = c.req.param();
  return c.json([1, 2, 3].map((n) => issue(owner, repo, n)));
});
gh.post("/repos/:owner/:repo/issues", (c) => {
  const { owner, repo } = c.req.param();
  const args = c.get("args");
  return c.json(issue(owner, repo, 4, { title: args.title ?? "New issue", body: args.body ?? "", comments: 0 }), 201);
});
gh.get("/repos/:owner/:repo/issues/:n", (c) => c.json(issue(c.req.param("owner"), c.req.param("repo"), num(c, "n"))));
gh.patch("/repos/:owner/:repo/issues/:n", (c) =>
  c.json(issue(c.req.param("owner"), c.req.param("repo"), num(c, "n"), c.get("args"))),
);
gh.get("/repos/:owner/:repo/issues/:n/comments", (c) =>
  c.json([
    { id: 501, user: user("octocat", 1), body: "I can reproduce this on main.", created_at: "2026-04-19T10:00:00Z" },
    { id: 502, user: user("hubot", 3), body: "Same here, started after v1.1.", created_at: "2026-04-20T08:12:00Z" },
  ]),
);
gh.post("/repos/:owner/:repo/issues/:n/comments", (c) => {
  const { owner, repo, n } = c.req.param();
  const id = 1000 + nextId;
  return c.json(
    {
      id,
      body: c.get("args").body ?? "",
      user: user("triage-bot[bot]", 9),
      issue_url: `${GH}/repos/${owner}/${repo}/issues/${n}`,
      html_url: `https://github.com/${owner}/${repo}/issues/${n}#issuecomment-${id}`,
      created_at: new Date().toISOString(),
    },
    201,
  );
});
gh.get("/repos/:owner/:repo/issues/:n/labels", (c) => c.json([{ id: 1, name: "bug", color: "d73a4a" }]));
gh.post("/repos/:owner/:repo/issues/:n/labels", (c) => {
  const labels = c.get("args").labels;
  const names = Array.isArray(labels) ? labels.map(String) : ["triage"];
  return c.json(["bug", ...names].map((name, i) => ({ id: i + 1, name, color: "ededed" })));
});
gh.delete("/repos/:owner/:repo/issues/:n/labels/:name", (c) => c.json([]));
gh.get("/repos/:owner/:repo/pulls", (c) => {
  const { owner, repo } = c.req.param();
  return c.json([pull(owner, repo, 1), pull(owner, repo, 2)]);
});
gh.get("/repos/:owner/:repo/pulls/:n", (c) => c.json(pull(c.req.param("owner"), c.req.param("repo"), num(c, "n"))));
gh.get("/repos/:owner/:repo/pulls/:n/files", (c) =>
  c.json([{ filename: "src/version.ts", status: "modified", additions: 1, deletions: 1, changes: 2 }]),
);
gh.get("/repos/:owner/:repo/pulls/:n/merge", (c) => {
  const { owner, repo, n } = c.req.param();
  return merged.has(`${owner}/${repo}#${n}`) ? c.body(null, 204) : c.json({ message: "Not Found" }, 404);
});
gh.put("/repos/:owner/:repo/pulls/:n/merge", (c) => {
  const { owner, repo, n } = c.req.param();
  merged.add(`${owner}/${repo}#${n}`);
  return c.json({
    sha: "6dcb09b5b57875f334f61aebed695e2e4193db5e",
    merged: true,
    message: "Pull Request successfully merged",
  });
});
gh.get("/repos/:owner/:repo/releases", (c) =>
  c.json([{ id: 1, tag_name: "v1.1.0", name: "v1.1.0", draft: false, prerelease: false }]),
);
gh.post("/repos/:owner/:repo/releases", (c) => {
  const args = c.get("args");
  return c.json({ id: 2, tag_name: args.tag_name ?? "v0.0.0", name: args.name ?? args.tag_name, draft: false }, 201);
});
gh.all("*", (c) =>
  c.json({ message: "Not Found", documentation_url: "https://docs.github.com/rest", status: "404" }, 404),
);
app.route("/github", gh);

// ------------------------------------------------------------------ Slack
const slack = new Hono<{ Variables: { args: Args } }>();
const ts = () => `${Math.floor(Date.now() / 1000)}.${String(nextId).padStart(6, "0")}`;

slack.all("/api/:method", (c) => {
  if (!c.req.header("authorization")) return c.json({ ok: false, error: "not_authed" });
  const args = c.get("args");
  switch (c.req.param("method")) {
    case "chat.postMessage": {
      if (!args.channel) return c.json({ ok: false, error: "channel_not_found" });
      const t = ts();
      return c.json({
        ok: true,
        channel: args.channel,
        ts: t,
        message: { type: "message", subtype: "bot_message", text: args.text ?? "", bot_id: "B0DEMOBOT", ts: t },
      });
    }
    case "auth.test":
      return c.json({
        ok: true,
        url: "https://acme.slack.com/",
        team: "Acme",
        user: "firebreak-demo",
        bot_id: "B0DEMOBOT",
      });
    case "conversations.list":
      return c.json({
        ok: true,
        channels: [
          { id: "C0TRIAGE01", name: "triage", is_channel: true },
          { id: "C0RELEASE1", name: "releases", is_channel: true },
        ],
      });
    default:
      return c.json({ ok: false, error: "unknown_method" });
  }
});
slack.all("*", (c) => c.json({ ok: false, error: "unknown_method" }, 404));
app.route("/slack", slack);

// ------------------------------------------------------------------ Stripe
const stripe = new Hono<{ Variables: { args: Args } }>();
const stripeError = (message: string) => ({ error: { type: "invalid_request_error", message } });

stripe.use("*", async (c, next) => {
  if (!c.req.header("authorization")) {
    return c.json(stripeError("You did not provide an API key."), 401);
  }
  await next();
});

function refund(id: string, args: Args = {}) {
  return {
    id,
    object: "refund",
    amount: Number(args.amount ?? 2500),
    currency: "usd",
    charge: args.charge ?? (args.payment_intent ? null : "ch_3Demo0001"),
    payment_intent: args.payment_intent ?? null,
    reason: args.reason ?? null,
    status: "succeeded",
    created: Math.floor(Date.now() / 1000),
  };
}

stripe.get("/v1/refunds", (c) =>
  c.json({ object: "list", url: "/v1/refunds", has_more: false, data: [refund("re_3Demo0001")] }),
);
stripe.post("/v1/refunds", (c) => c.json(refund(`re_3Demo${String(nextId).padStart(4, "0")}`, c.get("args"))));
stripe.get("/v1/refunds/:id", (c) => c.json(refund(c.req.param("id"))));
stripe.get("/v1/charges/:id", (c) =>
  c.json({ id: c.req.param("id"), object: "charge", amount: 2500, currency: "usd", paid: true, refunded: false }),
);
stripe.get("/v1/customers/:id", (c) =>
  c.json({ id: c.req.param("id"), object: "customer", name: "Jenny Rosen", email: "jenny.rosen@example.com" }),
);
stripe.get("/v1/balance", (c) =>
  c.json({ object: "balance", available: [{ amount: 125000, currency: "usd" }], pending: [] }),
);
stripe.all("*", (c) => c.json(stripeError(`Unrecognized request URL (${c.req.method}: ${c.req.path}).`), 404));
app.route("/stripe", stripe);
// Gmail, Drive, Calendar, Jira and Notion look-alikes (demo/src/google.ts, demo/src/jira-notion.ts).
app.route("/gmail", gmail);
app.route("/drive", drive);
app.route("/calendar", calendar);
app.route("/jira", jira);
app.route("/notion", notion);
// The CRM's MCP server (demo/src/crm.ts): @modelcontextprotocol/sdk's McpServer at /crm/mcp.
app.route("/crm", crm);

app.all("*", (c) =>
  c.json({ error: "not_found", message: "The demo upstream serves /github, /slack and /stripe." }, 404),
);

export default app;
