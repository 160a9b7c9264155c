/**
 * The building blocks of the approval page and the dashboard. Every value is rendered as JSX text or
 * attribute, so Hono escapes it; nothing here writes raw HTML.
 */
import type { Child } from "hono/jsx";

export interface KeyValue {
  key: string;
  value: Child;
  /** Render the value in a monospace font (ids, paths, digests). */
  mono?: boolean;
}

/** A definition list: one row a field (the request under approval, a task's summary). */
export function KeyValueList(props: { items: KeyValue[]; label?: string }) {
  return (
    <dl class="kv" aria-label={props.label}>
      {props.items.map((item) => (
        <>
          <dt>{item.key}</dt>
          <dd class={item.mono ? "mono" : undefined}>{item.value ?? <span class="muted">—</span>}</dd>
        </>
      ))}
    </dl>
  );
}

export interface Column<T> {
  /** The header text. */
  label: string;
  /** The cell: a field of the row, or a function of it (a badge, a link, a formatted number). */
  value: keyof T | ((row: T) => Child);
  /** Right-align numbers so that they line up. */
  numeric?: boolean;
  mono?: boolean;
}

export interface TableProps<T> {
  columns: Column<T>[];
  rows: T[];
  caption?: string;
  /** Shown in place of the rows when there are none. */
  empty?: string;
}

export function Table<T>(props: TableProps<T>) {
  const cellClass = (col: Column<T>) =>
    [col.numeric ? "num" : "", col.mono ? "mono" : ""].join(" ").trim() || undefined;
  return (
    <div class="table-wrap">
      <table>
        {props.caption ? <caption>{props.caption}</caption> : null}
        <thead>
          <tr>
            {props.columns.map((col) => (
              <th scope="col" class={col.numeric ? "num" : undefined}>
                {col.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.length === 0 ? (
            <tr>
              <td class="empty" colspan={props.columns.length}>
                {props.empty ?? "Nothing to show."}
              </td>
            </tr>
          ) : (
            props.rows.map((row) => (
              <tr>
                {props.columns.map((col) => (
                  <td class={cellClass(col)}>{cell(row, col)}</td>
                ))}
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}

function cell<T>(row: T, col: Column<T>): Child {
  const v = typeof col.value === "function" ? col.value(row) : row[col.value];
  if (v === null || v === undefined || v === "") return "—";
  // Plain values only: an object is never stringified into a page by accident.
  if (typeof v === "object" && !isRenderable(v)) return String(v);
  return v as Child;
}

function isRenderable(v: object): boolean {
  return Array.isArray(v) || "isEscaped" in v || "tag" in v || v instanceof Promise;
}

/** Decision effects and approval states, the words the badge knows. */
export type Status = "allow" | "deny" | "approval_required" | "pending" | "approved" | "denied" | "expired";

const STATUS_TEXT: Record<Status, string> = {
  allow: "allow",
  deny: "deny",
  approval_required: "approval required",
  pending: "pending",
  approved: "approved",
  denied: "denied",
  expired: "expired",
};

/** A coloured label; the word carries the meaning, the colour only repeats it. */
export function StatusBadge(props: { status: Status | string }) {
  const known = Object.hasOwn(STATUS_TEXT, props.status);
  const text = known ? STATUS_TEXT[props.status as Status] : props.status;
  return (
    <span class={`badge badge-${known ? props.status : "unknown"}`} data-status={known ? props.status : "unknown"}>
      {text}
    </span>
  );
}

export interface ButtonFormProps {
  /** Where the form posts: a path of this origin (the CSP's `form-action 'self'` refuses others). */
  action: string;
  label: string;
  /** The CSRF token the handler checks, sent as a hidden field. */
  csrfToken: string;
  /** The hidden field's name; `csrf` unless the handler reads another. */
  csrfField?: string;
  /** More hidden fields (the decision, a version to compare-and-set on). */
  fields?: Record<string, string>;
  variant?: "primary" | "danger" | "neutral";
}

/** One button that POSTs a form: works without JavaScript, never a GET that changes anything. */
export function ButtonForm(props: ButtonFormProps) {
  const variant = props.variant ?? "neutral";
  return (
    <form class="inline" method="post" action={props.action}>
      <input type="hidden" name={props.csrfField ?? "csrf"} value={props.csrfToken} />
      {Object.entries(props.fields ?? {}).map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
      <button type="submit" class={variant === "neutral" ? undefined : variant}>
        {props.label}
      </button>
    </form>
  );
}
