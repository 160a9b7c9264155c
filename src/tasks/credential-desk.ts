/**
 * Where the task's object and its credentials meet (src/tasks/credentials.ts holds and mints them):
 * each admission is handed its service's credential, renewed first when it is due; the task's end
 * revokes them all; every mint, renewal and revocation is written to the step log by id.
 */
import { canonicalJson, type Json } from "../core/canonical-json";
import type { MintedCredential } from "../credentials/types";
import type { Refusal } from "./admission";
import type { CredentialNote, TaskCredentials } from "./credentials";
import type { TaskStore } from "./task-store";
import type { StepRequest } from "./types";

/** What the desk needs of its object: its transaction, store and log, and a way to finish work later. */
export interface DeskHost {
  txn<T>(work: () => T): T;
  store: TaskStore;
  logRefusals(steps: StepRequest[], reason: string, by: string | null): void;
  waitUntil(work: Promise<unknown>): void;
}

type Refused = { ok: false } & Refusal;

export class CredentialDesk {
  constructor(
    readonly credentials: TaskCredentials,
    private readonly host: DeskHost,
  ) {}

  /** A `credential` entry (inside a transaction): the event and the credential's id, never its secret. */
  log(note: CredentialNote, now: number): void {
    const { service, ...rest } = note;
    this.host.store.append({ ts: now, kind: "credential", service, args: canonicalJson(rest as unknown as Json) });
  }

  /**
   * Runs an admission and hands its steps' service credential to the gateway with it: the one held, or
   * (due for renewal, the task live) a fresh one minted first, concurrent calls sharing the request. A
   * renewal that fails refuses the steps with its reason (logged): a credential is not used past due.
   */
  withCredential<T extends { ok: boolean }>(
    steps: [StepRequest, ...StepRequest[]],
    admit: () => T,
  ): T | Refused | Promise<T | Refused> {
    const { service, now } = steps[0];
    const held = this.credentials.current(service, now);
    if (held !== "renew") return handOver(admit(), held);
    const task = this.host.store.task();
    if (task?.state !== "live" || now >= task.deadline) return admit();
    return this.renewed(service, steps, now).then((fresh) => ("reason" in fresh ? fresh : handOver(admit(), fresh)));
  }

  private async renewed(service: string, steps: StepRequest[], now: number): Promise<MintedCredential | Refused> {
    const fresh = await this.credentials.renew(service);
    if ("ok" in fresh) {
      this.host.txn(() => this.host.logRefusals(steps, fresh.code, null));
      return { ok: false, reason: fresh.code, detail: fresh.detail };
    }
    const old = this.host.txn(() => {
      const replaced = this.credentials.replace(fresh);
      if (replaced.note) this.log(replaced.note, now);
      return replaced.old;
    });
    if (old) this.host.waitUntil(this.revokeOne(old, now));
    return fresh.credential;
  }

  private async revokeOne(held: Parameters<TaskCredentials["revokeUpstream"]>[0], now: number): Promise<void> {
    const note = await this.credentials.revokeUpstream(held);
    this.host.txn(() => this.log(note, now));
  }

  /** The task ended: its credentials revoked upstream, forgotten here, and the log says so. */
  async revokeAll(now: number): Promise<void> {
    if (!this.credentials.any) return;
    const notes = await this.credentials.revokeAll();
    this.host.txn(() => {
      for (const note of notes) this.log(note, now);
    });
  }
}

/** An admitted answer with the credential to forward with; a refusal as it is. */
function handOver<T extends { ok: boolean }>(result: T, credential: MintedCredential | null): T {
  return result.ok && credential !== null ? { ...result, credential: credential.secret } : result;
}
