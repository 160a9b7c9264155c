/**
 * A task's upstream credentials (docs/credentials.md): minted by the task's object when the task
 * opens, one per service of its profile whose provider mints (GitHub App, OAuth), kept in the object's
 * SQLite storage and nowhere else, handed to the gateway with each admitted call of that service,
 * renewed before they expire, and revoked upstream when the task ends.
 *
 * The secret never enters the step log: a `credential` entry names the credential by its id (the
 * first 16 hex digits of its sha256) and says what happened to it.
 */
import { providerFor, renewalDue } from "../credentials/providers";
import {
  type CredentialFailure,
  type CredentialProvider,
  fail,
  type MintedCredential,
  type MintPlan,
  type ProviderDeps,
} from "../credentials/types";

export type { MintPlan };

export interface Held {
  plan: MintPlan;
  credential: MintedCredential;
  subject: string | null;
}

/** What a credential event writes to the log: never the secret. */
export interface CredentialNote {
  service: string;
  id: string;
  event: "mint" | "renew" | "revoke";
  expires_at?: number | null;
  /** A revocation upstream that failed: its reason code (the token still expires on its own). */
  failed?: string;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS credentials (
  service TEXT PRIMARY KEY, plan TEXT NOT NULL, secret TEXT, id TEXT NOT NULL, expires_at INTEGER,
  subject TEXT, revoked INTEGER NOT NULL DEFAULT 0
)`;

export class TaskCredentials {
  private cache: Map<string, Held> | null = null;
  private readonly providers = new Map<string, CredentialProvider>();
  /** One renewal in flight per service: concurrent calls wait for the same token request. */
  private readonly renewing = new Map<string, Promise<Held | CredentialFailure>>();

  constructor(
    private readonly sql: SqlStorage,
    private readonly deps: ProviderDeps,
  ) {}

  migrate(): void {
    this.sql.exec(SCHEMA);
  }

  /** Whether the task holds any minted credential (a task of static services only: false, and no cost). */
  get any(): boolean {
    return this.held().size > 0;
  }

  /**
   * Mints every plan's credential, all or none: when one fails, those already minted are revoked and
   * the failure returned. Nothing is written here (the caller saves them in its transaction).
   */
  async mintAll(plans: MintPlan[], subject: string | null): Promise<Held[] | CredentialFailure> {
    const minted = await Promise.all(plans.map((plan) => this.mint(plan, subject)));
    const failed = minted.find((m): m is CredentialFailure => "ok" in m);
    if (!failed) return minted as Held[];
    await Promise.all(minted.filter((m): m is Held => !("ok" in m)).map((h) => this.revokeUpstream(h)));
    return failed;
  }

  /** Writes minted credentials; call inside the object's transaction. */
  save(held: Held[]): CredentialNote[] {
    for (const h of held) {
      this.sql.exec(
        "INSERT OR REPLACE INTO credentials (service, plan, secret, id, expires_at, subject, revoked) VALUES (?, ?, ?, ?, ?, ?, 0)",
        h.plan.service,
        JSON.stringify(h.plan),
        h.credential.secret,
        h.credential.id,
        h.credential.expiresAt,
        h.subject,
      );
      this.held().set(h.plan.service, h);
    }
    return held.map((h) => note(h, "mint"));
  }

  /**
   * The credential for a call of `service` at `now`: `null` when the service does not mint (its static
   * secret applies), the held one while it is fresh, `"renew"` when it is due for renewal.
   */
  current(service: string, now: number): MintedCredential | null | "renew" {
    const held = this.held().get(service);
    if (!held) return null;
    return renewalDue(held.credential, now) ? "renew" : held.credential;
  }

  /**
   * A fresh credential for `service`, minted with the plan it was first minted with; concurrent callers
   * share one request. The caller saves it (`replace`) in its transaction and revokes the old one.
   */
  renew(service: string): Promise<Held | CredentialFailure> {
    const had = this.held().get(service);
    if (!had) return Promise.resolve(fail("credential.unavailable", `task holds no credential for ${service}`));
    let pending = this.renewing.get(service);
    if (!pending) {
      pending = this.mint(had.plan, had.subject).finally(() => this.renewing.delete(service));
      this.renewing.set(service, pending);
    }
    return pending;
  }

  /**
   * Replaces a service's credential by a renewed one (inside the transaction); the old one, to revoke.
   * Callers that shared one renewal all arrive here: only the first replaces (and logs), the others
   * find the fresh one already held and change nothing.
   */
  replace(fresh: Held): { old: Held | null; note: CredentialNote | null } {
    const old = this.held().get(fresh.plan.service) ?? null;
    if (old?.credential.id === fresh.credential.id) return { old: null, note: null };
    this.save([fresh]);
    return { old, note: note(fresh, "renew") };
  }

  /**
   * Revokes every credential upstream (the task ended) and forgets the secrets, whatever the upstream
   * answered: a credential that could not be revoked still expires on its own. Notes for the log.
   */
  async revokeAll(): Promise<CredentialNote[]> {
    const held = [...this.held().values()];
    this.sql.exec("UPDATE credentials SET secret = NULL, revoked = 1");
    this.cache = new Map();
    return Promise.all(held.map((h) => this.revokeUpstream(h)));
  }

  /** Revokes one credential upstream (a renewed one's predecessor, or a mint undone). */
  async revokeUpstream(h: Held): Promise<CredentialNote> {
    const done = await this.provider(h.plan).revoke(h.credential);
    return done.ok ? note(h, "revoke") : { ...note(h, "revoke"), failed: done.code };
  }

  private async mint(plan: MintPlan, subject: string | null): Promise<Held | CredentialFailure> {
    const request = subject === null ? plan.request : { ...plan.request, subjectToken: subject };
    const minted = await this.provider(plan).mint(request);
    return minted.ok ? { plan, credential: minted.credential, subject } : minted;
  }

  private provider(plan: MintPlan): CredentialProvider {
    let p = this.providers.get(plan.service);
    if (!p) {
      p = providerFor({ name: plan.service, provider: plan.provider }, this.deps);
      this.providers.set(plan.service, p);
    }
    return p;
  }

  private held(): Map<string, Held> {
    if (this.cache) return this.cache;
    const rows = this.sql
      .exec<{ plan: string; secret: string; id: string; expires_at: number | null; subject: string | null }>(
        "SELECT plan, secret, id, expires_at, subject FROM credentials WHERE revoked = 0 AND secret IS NOT NULL",
      )
      .toArray();
    this.cache = new Map(
      rows.map((r) => {
        const plan = JSON.parse(r.plan) as MintPlan;
        const credential = { secret: r.secret, id: r.id, expiresAt: r.expires_at };
        return [plan.service, { plan, credential, subject: r.subject }];
      }),
    );
    return this.cache;
  }

  /** After a rolled-back transaction: read the table again. */
  forget(): void {
    this.cache = null;
  }
}

function note(h: Held, event: CredentialNote["event"]): CredentialNote {
  const base = { service: h.plan.service, id: h.credential.id, event };
  return event === "revoke" ? base : { ...base, expires_at: h.credential.expiresAt };
}
