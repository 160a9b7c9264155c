/**
 * The task step log's hash chain: each entry stores `hash = sha256(prev_hash + canonical JSON of the
 * entry)`, so an edited, inserted or deleted entry breaks every hash after it. Synchronous on purpose:
 * the task object appends inside its check-and-reserve block, where no `await` may run (TOOLCHAIN.md),
 * and WebCrypto has no synchronous digest; `node:crypto` (the `nodejs_compat` flag) does.
 */
import { createHash } from "node:crypto";
import { canonicalJson, type Json } from "../core/canonical-json";

export type { Json };

/** `prev_hash` of the first entry. */
export const GENESIS = "0".repeat(64);

export function chainHash(prevHash: string, entry: Json): string {
  return chainHashText(prevHash, canonicalJson(entry));
}

/** The same hash over an entry already written as canonical JSON (`entryText`, src/tasks/entry.ts). */
export function chainHashText(prevHash: string, entryJson: string): string {
  return createHash("sha256").update(prevHash).update(entryJson).digest("hex");
}

export interface ChainLink {
  seq: number;
  prev_hash: string;
  hash: string;
  /** Canonical JSON of the hashed content, rebuilt from the stored columns (never a stored blob). */
  text: string;
}

/**
 * Walks the links in order from `start` (the last entry already verified; the genesis by default):
 * seq must run start+1, start+2, ..., each prev_hash must be the previous hash and each hash must match
 * its entry. `head` (the last seq and hash the task row remembers) catches a truncated tail. Returns
 * the seq of the first entry that does not hold.
 */
export function verifyChain(
  links: Iterable<ChainLink>,
  head: { seq: number; hash: string },
  start: { seq: number; hash: string } = { seq: 0, hash: GENESIS },
): { ok: true } | { ok: false; broken_at: number } {
  let { seq, hash: prev } = start;
  for (const link of links) {
    seq += 1;
    if (link.seq !== seq || link.prev_hash !== prev || chainHashText(prev, link.text) !== link.hash) {
      return { ok: false, broken_at: seq };
    }
    prev = link.hash;
  }
  if (seq !== head.seq || prev !== head.hash) return { ok: false, broken_at: Math.min(seq, head.seq) + 1 };
  return { ok: true };
}
