/**
 * The bundle in force, per isolate: the one built into the worker (the floor), replaced by the newest
 * valid signed bundle in KV (docs/bundles.md). Every request asks `refresh()` first; at most every
 * REFRESH_MS of the app's clock it starts one check of KV's head in the background (`ctx.waitUntil`),
 * so no call waits for KV, except the first ones of an isolate, which wait up to FIRST_WAIT_MS for the
 * first check (an isolate should not decide with an older bundle than its neighbours just because it is
 * new). A head is verified, then its bundle fetched, hashed and loaded once, and swapped in as one
 * assignment: a request reads `state()` once and decides with that bundle throughout.
 *
 * Nothing here throws at a caller: KV down, garbage or a refused head keep the bundle in force, and
 * the refusal is kept (`status().last_rejection`) and logged once per change as a structured line.
 */
import { withTimeout } from "../core/timeout";
import { type BundleState, bundleState } from "./load";
import {
  type BundleRefusal,
  bundleKey,
  checkBundle,
  HEAD_KEY,
  type InForce,
  type Refused,
  type TrustedKeys,
  trustedKeys,
  verifyHead,
} from "./signed";

/** How often an isolate looks at KV (app clock). Documented in docs/bundles.md. */
export const REFRESH_MS = 10_000;
/** How long the first requests of an isolate wait for its first check before deciding with the floor. */
export const FIRST_WAIT_MS = 1_000;
/** A KV read slower than this counts as KV unreachable. */
export const KV_TIMEOUT_MS = 2_000;

/** The part of a KV namespace binding the holder reads. */
export interface BundleStore {
  get(key: string, type: "text"): Promise<string | null>;
}

/** Where the bundle in force came from. */
export interface BundleSource {
  kind: "built-in" | "kv";
  /** 0 for the built-in bundle. */
  sequence: number;
  key_id: string | null;
  signed_at: string | null;
  rollback: boolean;
}

export interface Rejection {
  code: BundleRefusal;
  detail: string;
  /** App time of the check that refused. */
  at: string;
}

export interface HolderStatus {
  /** off: no BUNDLES binding or no FIREBREAK_BUNDLE_KEYS; on: KV is checked every `refresh_s`. */
  kv: "off" | "on";
  refresh_s: number;
  source: BundleSource;
  checked_at: string | null;
  last_rejection: Rejection | null;
}

export interface RefreshConfig {
  store: BundleStore | undefined;
  /** FIREBREAK_BUNDLE_KEYS as configured. */
  keys: unknown;
  /**
   * The gateway's high-water mark (the BUNDLE_ORDER Durable Object): raises it to a sequence about to be
   * put in force and returns the highest one any isolate has accepted. Absent: this isolate's order only.
   */
  order?: ((sequence: number) => Promise<number>) | undefined;
}

const BUILT_IN: BundleSource = { kind: "built-in", sequence: 0, key_id: null, signed_at: null, rollback: false };

/** Refusals that may pass on their own (KV recovers, a value propagates): the head is looked at again. */
const TRANSIENT: ReadonlySet<BundleRefusal> = new Set([
  "bundle.kv_unreachable",
  "bundle.missing",
  "bundle.order_unreachable",
]);

export class BundleHolder {
  private current: { state: BundleState; source: BundleSource };
  private readonly floor: Pick<InForce, "compiler_version" | "dev">;
  private checkedAt: number | null = null;
  private checking: Promise<void> | null = null;
  private firstDone = false;
  private kvOn = false;
  private rejection: Rejection | null = null;
  /** The head text in force, and the one last refused for good: neither is verified again. */
  private inForceHead: string | null = null;
  private refusedHead: string | null = null;
  private keys: { value: unknown; keys: Promise<TrustedKeys | null | Refused> } | null = null;

  constructor(builtInJson: unknown) {
    this.current = { state: bundleState(builtInJson), source: BUILT_IN };
    const m = (builtInJson as { manifest?: { compiler_version?: unknown; dev?: unknown } })?.manifest;
    this.floor = { compiler_version: String(m?.compiler_version ?? ""), dev: m?.dev === true };
  }

  /** The bundle in force: read once per request. */
  state(): BundleState {
    return this.current.state;
  }

  status(): HolderStatus {
    return {
      kv: this.kvOn ? "on" : "off",
      refresh_s: REFRESH_MS / 1000,
      source: this.current.source,
      checked_at: this.checkedAt === null ? null : new Date(this.checkedAt).toISOString(),
      last_rejection: this.rejection,
    };
  }

  /**
   * Called before every request: starts a check when one is due (in `background`). Resolves at once,
   * except while the isolate's first check runs: then within FIRST_WAIT_MS.
   */
  refresh(config: RefreshConfig, now: Date, background: (work: Promise<unknown>) => void): Promise<void> {
    this.kvOn = config.store !== undefined && !isEmpty(config.keys);
    if (!this.kvOn) return Promise.resolve();
    const t = now.getTime();
    if (this.checking === null && (this.checkedAt === null || t - this.checkedAt >= REFRESH_MS)) {
      this.checkedAt = t;
      const store = config.store as BundleStore;
      this.checking = this.check(store, config, now)
        .catch((e) => this.refuse({ ok: false, code: "bundle.unloadable", detail: errorName(e) }, now))
        .finally(() => {
          this.checking = null;
          this.firstDone = true;
        });
      background(this.checking);
    }
    if (this.firstDone || this.checking === null) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, FIRST_WAIT_MS);
    });
    return Promise.race([this.checking, waited]).finally(() => clearTimeout(timer));
  }

  private async check(store: BundleStore, config: RefreshConfig, now: Date): Promise<void> {
    const keys = await this.trusted(config.keys);
    if (keys === null) return;
    if (!(keys instanceof Map)) return this.refuse(keys, now);
    const head = await read(store, HEAD_KEY);
    if (typeof head !== "string") return head === null ? undefined : this.refuse(head, now);
    if (head === this.inForceHead || head === this.refusedHead) return;
    const inForce: InForce = { sequence: this.current.source.sequence, ...this.floor };
    const verified = await verifyHead(head, keys, inForce);
    if (!verified.ok) return this.refuse(verified, now, head);
    const { payload } = verified;
    const bytes = await read(store, bundleKey(payload.bundle_sha256));
    if (bytes === null) {
      const detail = `sequence ${payload.sequence}: no value at ${bundleKey(payload.bundle_sha256)}`;
      return this.refuse({ ok: false, code: "bundle.missing", detail }, now);
    }
    if (typeof bytes !== "string") return this.refuse(bytes, now);
    const checked = await checkBundle(bytes, payload);
    if (!checked.ok) return this.refuse(checked, now, head);
    const state = bundleState(checked.json);
    if (!state.ok) return this.refuse({ ok: false, code: "bundle.unloadable", detail: state.error }, now, head);
    const highest = await raise(config.order, payload.sequence);
    if (typeof highest !== "number") return this.refuse(highest, now);
    if (highest > payload.sequence) {
      const detail = `sequence ${payload.sequence} is below ${highest}, already in force on this gateway`;
      return this.refuse({ ok: false, code: "bundle.stale", detail }, now, head);
    }
    const source: BundleSource = {
      kind: "kv",
      sequence: payload.sequence,
      key_id: verified.key_id,
      signed_at: payload.signed_at,
      rollback: payload.rollback,
    };
    const from = this.current.state.ok ? this.current.state.bundle.spec.manifest.revision : null;
    this.current = { state, source };
    this.inForceHead = head;
    console.log(
      JSON.stringify({
        event: "firebreak.bundle_swapped",
        from,
        revision: payload.revision,
        ...source,
        at: now.toISOString(),
      }),
    );
  }

  /** Keeps what is in force; remembers and logs why (once per change of code and detail). */
  private refuse(refused: Refused, now: Date, head?: string): void {
    if (head !== undefined && !TRANSIENT.has(refused.code)) this.refusedHead = head;
    const same = this.rejection?.code === refused.code && this.rejection.detail === refused.detail;
    this.rejection = { code: refused.code, detail: refused.detail, at: now.toISOString() };
    if (same) return;
    const m = this.current.state.ok ? this.current.state.bundle.spec.manifest.revision : null;
    console.error(
      JSON.stringify({
        event: "firebreak.bundle_refused",
        code: refused.code,
        detail: refused.detail,
        in_force: m,
        sequence: this.current.source.sequence,
      }),
    );
  }

  private trusted(value: unknown): Promise<TrustedKeys | null | Refused> {
    const held = this.keys;
    if (held !== null && held.value === value) return held.keys;
    const keys = trustedKeys(value);
    this.keys = { value, keys };
    return keys;
  }
}

function isEmpty(keys: unknown): boolean {
  return keys === undefined || keys === null || keys === "";
}

/** The gateway's highest accepted sequence after raising it to `sequence` (no mark: `sequence`). Never throws. */
async function raise(order: RefreshConfig["order"], sequence: number): Promise<number | Refused> {
  if (!order) return sequence;
  try {
    const highest = await withTimeout(order(sequence), KV_TIMEOUT_MS);
    if (Number.isSafeInteger(highest)) return highest;
    return { ok: false, code: "bundle.order_unreachable", detail: "the high-water mark is not a number" };
  } catch (e) {
    return { ok: false, code: "bundle.order_unreachable", detail: `raising the high-water mark: ${errorName(e)}` };
  }
}

/** A KV read: the text, null when absent, or why it could not be read. Never throws. */
async function read(store: BundleStore, key: string): Promise<string | null | Refused> {
  try {
    const value = await withTimeout(store.get(key, "text"), KV_TIMEOUT_MS);
    if (value === null || typeof value === "string") return value;
    return { ok: false, code: "bundle.malformed", detail: `${key} is not text` };
  } catch (e) {
    return { ok: false, code: "bundle.kv_unreachable", detail: `reading ${key}: ${errorName(e)}` };
  }
}

function errorName(e: unknown): string {
  return e instanceof Error ? e.message.slice(0, 200) : "error";
}
