/**
 * Gmail, Drive and Calendar look-alikes for the demo upstream (demo/src/index.ts mounts them at
 * /gmail, /drive and /calendar): a few everyday calls answered with plausible JSON, the way
 * googleapis' clients read it. Everything else is Google's 404. Local only.
 */
import { type Context, Hono } from "hono";

type Args = Record<string, unknown>;
type Env = { Variables: { args: Args } };
type Ctx = Context<Env>;

const googleError = (c: Ctx, code: number, status: string, message: string) =>
  c.json({ error: { code, message, status, errors: [{ message, reason: status.toLowerCase() }] } }, code as 401);

function google(): Hono<Env> {
  const api = new Hono<Env>();
  api.use("*", async (c, next) => {
    if (!c.req.header("authorization")) {
      return googleError(c, 401, "UNAUTHENTICATED", "Request is missing required authentication credential.");
    }
    await next();
  });
  return api;
}

const notFound = (c: Ctx) => googleError(c, 404, "NOT_FOUND", `Method not found: ${c.req.method} ${c.req.path}`);
let seq = 100;
const newId = (prefix: string) => `${prefix}${(seq++).toString(16)}`;

// ------------------------------------------------------------------ Gmail
const INBOX = [
  { id: "18f0a1", threadId: "18f0a1", from: "Dana Lee <dana@customer.example>", subject: "Invoice 2291 looks wrong" },
  { id: "18f0a2", threadId: "18f0a2", from: "Ops <ops@acme.example>", subject: "Maintenance window on Friday" },
];

function message(m: (typeof INBOX)[number]) {
  return {
    id: m.id,
    threadId: m.threadId,
    labelIds: ["INBOX", "UNREAD"],
    snippet: `${m.subject}: hi, could you have a look before Friday?`,
    internalDate: "1776672000000",
    payload: {
      mimeType: "text/plain",
      headers: [
        { name: "From", value: m.from },
        { name: "To", value: "me@acme.example" },
        { name: "Subject", value: m.subject },
      ],
    },
  };
}

export const gmail = google();
const mailbox = "/gmail/v1/users/:userId";
gmail.get(`${mailbox}/profile`, (c) =>
  c.json({ emailAddress: "me@acme.example", messagesTotal: 1843, threadsTotal: 977, historyId: "884211" }),
);
gmail.get(`${mailbox}/labels`, (c) =>
  c.json({ labels: ["INBOX", "SENT", "DRAFT", "UNREAD"].map((id) => ({ id, name: id, type: "system" })) }),
);
gmail.get(`${mailbox}/messages`, (c) =>
  c.json({ messages: INBOX.map(({ id, threadId }) => ({ id, threadId })), resultSizeEstimate: INBOX.length }),
);
gmail.get(`${mailbox}/messages/:id`, (c) => {
  const m = INBOX.find((x) => x.id === c.req.param("id"));
  return m ? c.json(message(m)) : googleError(c, 404, "NOT_FOUND", "Requested entity was not found.");
});
gmail.post(`${mailbox}/drafts`, (c) => {
  const id = newId("r-");
  return c.json({ id, message: { id: newId(""), threadId: newId(""), labelIds: ["DRAFT"] } });
});
gmail.post(`${mailbox}/drafts/send`, (c) => c.json({ id: newId(""), threadId: newId(""), labelIds: ["SENT"] }));
gmail.post(`${mailbox}/messages/send`, (c) => {
  const threadId = typeof c.get("args").threadId === "string" ? c.get("args").threadId : newId("");
  return c.json({ id: newId(""), threadId, labelIds: ["SENT"] });
});
gmail.all("*", notFound);

// ------------------------------------------------------------------ Drive
const FILES = [
  { id: "1AbcRoadmap", name: "Roadmap 2026", mimeType: "application/vnd.google-apps.document" },
  { id: "1AbcBudget", name: "Budget Q3.xlsx", mimeType: "application/vnd.google-apps.spreadsheet" },
];

export const drive = google();
drive.get("/drive/v3/about", (c) => c.json({ kind: "drive#about", user: { displayName: "Demo", me: true } }));
drive.get("/drive/v3/files", (c) => c.json({ kind: "drive#fileList", incompleteSearch: false, files: FILES }));
drive.get("/drive/v3/files/:fileId", (c) => {
  const f = FILES.find((x) => x.id === c.req.param("fileId"));
  if (!f) return googleError(c, 404, "NOT_FOUND", `File not found: ${c.req.param("fileId")}.`);
  if (c.req.query("alt") === "media") return c.text(`${f.name}\n\nQ3: ship the gateway; Q4: more catalogs.\n`);
  return c.json({ kind: "drive#file", ...f, owners: [{ displayName: "Dana Lee" }] });
});
drive.get("/drive/v3/files/:fileId/export", (c) =>
  c.text("Roadmap 2026\n\nQ3: ship the gateway; Q4: more catalogs.\n", 200, { "content-type": "text/plain" }),
);
drive.post("/drive/v3/files/:fileId/permissions", (c) =>
  c.json({ kind: "drive#permission", id: newId("p"), type: c.get("args").type, role: c.get("args").role }),
);
drive.all("*", notFound);

// ------------------------------------------------------------------ Calendar
export const calendar = google();
const event = (id: string, summary: string, start: string, extra: Args = {}) => ({
  kind: "calendar#event",
  id,
  status: "confirmed",
  summary,
  start: { dateTime: start },
  end: { dateTime: new Date(Date.parse(start) + 30 * 60_000).toISOString() },
  attendees: [{ email: "dana@customer.example", responseStatus: "needsAction" }],
  ...extra,
});
calendar.get("/calendar/v3/users/me/calendarList", (c) =>
  c.json({ kind: "calendar#calendarList", items: [{ id: "primary", summary: "me@acme.example", primary: true }] }),
);
calendar.get("/calendar/v3/calendars/:calendarId/events", (c) =>
  c.json({
    kind: "calendar#events",
    summary: c.req.param("calendarId"),
    items: [event("ev1", "Invoice review with Dana", "2026-05-04T10:00:00Z")],
  }),
);
calendar.post("/calendar/v3/calendars/:calendarId/events", (c) => {
  const args = c.get("args");
  return c.json(event(newId("ev"), String(args.summary ?? "New event"), "2026-05-05T10:00:00Z"));
});
calendar.all("*", notFound);
