/**
 * Jira Cloud and Notion look-alikes for the demo upstream (demo/src/index.ts mounts them at /jira and
 * /notion): the everyday calls of a triage bot and a notes writer, answered with plausible JSON in the
 * shapes jira.js and @notionhq/client read. Everything else is each API's 404. Local only.
 */
import { Hono } from "hono";

type Args = Record<string, unknown>;
type Env = { Variables: { args: Args } };

let seq = 10100;

// ------------------------------------------------------------------ Jira
const SITE = "https://acme.atlassian.net";
const person = (accountId: string, displayName: string) => ({ accountId, displayName, active: true });

function issue(key: string, extra: Args = {}) {
  const n = Number(key.split("-")[1]) || 1;
  return {
    id: String(10000 + n),
    key,
    self: `${SITE}/rest/api/3/issue/${10000 + n}`,
    fields: {
      summary: n % 2 ? "Checkout button does nothing on Safari" : "Typo on the pricing page",
      status: { name: "To Do", statusCategory: { key: "new" } },
      priority: { name: "Medium" },
      labels: ["needs-triage"],
      reporter: person("5b10ac8d82e05b22cc7d4ef5", "Dana Lee"),
      assignee: null,
      ...extra,
    },
  };
}

export const jira = new Hono<Env>();
jira.use("*", async (c, next) => {
  if (!c.req.header("authorization")) {
    return c.json(
      { errorMessages: ["You are not authenticated. Authentication required to perform this operation."] },
      401,
    );
  }
  await next();
});
jira.get("/rest/api/3/myself", (c) => c.json(person("5b10a2844c20165700ede21g", "Triage Bot")));
jira.get("/rest/api/3/search/jql", (c) => c.json({ issues: [issue("ACME-41"), issue("ACME-42")], isLast: true }));
jira.post("/rest/api/3/search/jql", (c) => c.json({ issues: [issue("ACME-41"), issue("ACME-42")], isLast: true }));
jira.get("/rest/api/3/issue/:key", (c) => c.json(issue(c.req.param("key"))));
jira.put("/rest/api/3/issue/:key", (c) => c.body(null, 204));
jira.get("/rest/api/3/issue/:key/comment", (c) =>
  c.json({ startAt: 0, maxResults: 50, total: 1, comments: [{ id: "20001", author: person("x", "Dana Lee") }] }),
);
jira.post("/rest/api/3/issue/:key/comment", (c) =>
  c.json(
    { id: String(seq++), self: `${SITE}/rest/api/3/issue/${c.req.param("key")}/comment`, body: c.get("args").body },
    201,
  ),
);
jira.get("/rest/api/3/issue/:key/transitions", (c) =>
  c.json({
    transitions: [
      { id: "21", name: "In Progress" },
      { id: "31", name: "Done" },
    ],
  }),
);
jira.post("/rest/api/3/issue/:key/transitions", (c) => c.body(null, 204));
jira.all("*", (c) => c.json({ errorMessages: ["The requested resource does not exist."], errors: {} }, 404));

// ------------------------------------------------------------------ Notion
const page = (id: string, title: string) => ({
  object: "page",
  id,
  url: `https://www.notion.so/${id.replaceAll("-", "")}`,
  in_trash: false,
  properties: { title: { id: "title", type: "title", title: [{ type: "text", plain_text: title }] } },
});
const DIGEST = "9f1c0d1e-0000-4000-8000-00000000d16e";

export const notion = new Hono<Env>();
notion.use("*", async (c, next) => {
  if (!c.req.header("authorization")) {
    return c.json({ object: "error", status: 401, code: "unauthorized", message: "API token is invalid." }, 401);
  }
  await next();
});
notion.get("/v1/users/me", (c) => c.json({ object: "user", id: "bot-0001", type: "bot", name: "Docs digest" }));
notion.post("/v1/search", (c) =>
  c.json({ object: "list", results: [page(DIGEST, "Weekly digest")], has_more: false, next_cursor: null }),
);
notion.get("/v1/pages/:id", (c) => c.json(page(c.req.param("id"), "Weekly digest")));
notion.get("/v1/blocks/:id/children", (c) =>
  c.json({ object: "list", results: [], has_more: false, next_cursor: null }),
);
notion.patch("/v1/blocks/:id/children", (c) => {
  const children = Array.isArray(c.get("args").children) ? (c.get("args").children as Args[]) : [];
  const results = children.map((b) => ({ object: "block", id: `blk-${seq++}`, type: b.type ?? "paragraph" }));
  return c.json({ object: "list", results, has_more: false, next_cursor: null });
});
notion.post("/v1/pages", (c) => c.json(page(`pg-${seq++}`, "New page")));
notion.all("*", (c) =>
  c.json({ object: "error", status: 404, code: "object_not_found", message: "Could not find the object." }, 404),
);
