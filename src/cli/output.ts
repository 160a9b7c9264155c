/**
 * Tabular output for the CLI: an aligned text table for people, and CSV (RFC 4180) for programs.
 * Values recorded from requests (agent names, resources) are attacker-influenced, so the text table
 * shows control characters as escapes: nothing an agent chose can move the operator's cursor or
 * recolour their terminal. CSV keeps values exact, quoting any field with a comma, quote or line break.
 */

export type Cell = string | number;

/** A value for a terminal: control characters (C0, DEL, C1) as `\n`, `\x1b`, ... */
export function printable(v: Cell): string {
  return String(v).replace(/[\u0000-\u001f\u007f-\u009f]/g, (ch) => {
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    return named[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

export function table(headers: string[], rows: Cell[][]): string {
  const cells = rows.map((r) => r.map(printable));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => [...(r[i] ?? "")].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i]! - [...c].length)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...cells.map(line)].join("\n");
}

export function csvField(v: Cell): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csv(headers: string[], rows: Cell[][]): string {
  return `${[headers, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n")}\r\n`;
}
