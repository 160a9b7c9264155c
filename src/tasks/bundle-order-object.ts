/**
 * The gateway's bundle high-water mark: one Durable Object (`getByName(BUNDLE_ORDER_NAME)`), SQLite
 * storage, native RPC. Every isolate asks it once before it puts a signed bundle from KV in force
 * (src/policy/holder.ts, docs/bundles.md): `raise(sequence)` keeps the highest sequence any isolate has
 * accepted and returns it. An isolate that gets back a higher one refuses its head as stale, so a KV
 * writer who puts an older, validly signed head back cannot roll new isolates back either: KV is
 * writable by more hands than the signing key, this object only by the worker.
 *
 * Check-and-raise is one synchronous statement, nothing awaited (TOOLCHAIN.md).
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";

export const BUNDLE_ORDER_NAME = "gateway";

export class BundleOrderObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS high_water (id INTEGER PRIMARY KEY CHECK (id = 0), sequence INTEGER NOT NULL)",
    );
  }

  /** The highest sequence accepted so far, `sequence` included: raised to it when it is higher. */
  raise(sequence: number): number {
    if (!Number.isSafeInteger(sequence) || sequence < 0) throw new RangeError("sequence");
    const row = this.ctx.storage.sql
      .exec<{ sequence: number }>(
        "INSERT INTO high_water (id, sequence) VALUES (0, ?) ON CONFLICT (id) DO UPDATE SET sequence = max(sequence, excluded.sequence) RETURNING sequence",
        sequence,
      )
      .one();
    return row.sequence;
  }

  /** The highest sequence accepted so far (0: none). */
  highest(): number {
    const rows = this.ctx.storage.sql.exec<{ sequence: number }>("SELECT sequence FROM high_water").toArray();
    return rows[0]?.sequence ?? 0;
  }
}
