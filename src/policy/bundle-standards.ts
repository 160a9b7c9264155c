/**
 * What each refusal of a KV bundle (src/policy/signed.ts `BUNDLE_REFUSALS`) answers to, for
 * docs/standards.md: the bundle is the gateway's own supply chain, so every refusal is ASI04 at the
 * deployment layer; the ones that stop a replay or a forged bundle are GOVERN as well as MANAGE.
 */
import type { StandardsRef } from "../core/standards";
import type { BundleRefusal } from "./signed";

const forged: StandardsRef = { asi: "ASI04", maestro: "L4", nist: ["GOVERN", "MANAGE"] };
const broken: StandardsRef = { asi: "ASI04", maestro: "L4", nist: ["MANAGE"] };

export const BUNDLE_REFUSAL_STANDARDS: Record<BundleRefusal, { title: string; standards: StandardsRef }> = {
  "bundle.unsigned": { title: "A bundle in KV without a signature", standards: forged },
  "bundle.bad_signature": { title: "A signature that does not verify (a changed byte)", standards: forged },
  "bundle.missing_key_id": { title: "A head that names no signing key", standards: forged },
  "bundle.unknown_key": { title: "A head signed by a key the worker does not trust", standards: forged },
  "bundle.stale": { title: "An older or replayed bundle (sequence not ahead)", standards: forged },
  "bundle.format": { title: "An envelope or bundle format this worker cannot run", standards: broken },
  "bundle.compiler": { title: "A compiler of another release line", standards: broken },
  "bundle.dev": { title: "A dev-overlay bundle on a deployed worker, or the reverse", standards: forged },
  "bundle.malformed": { title: "A value that is not a head or a bundle", standards: broken },
  "bundle.missing": { title: "A signed head whose bundle is not in KV", standards: broken },
  "bundle.unloadable": { title: "A signed bundle that does not load", standards: broken },
  "bundle.kv_unreachable": { title: "KV could not be read", standards: broken },
  "bundle.order_unreachable": { title: "The high-water mark could not be raised", standards: broken },
  "bundle.keys_invalid": { title: "The configured public keys are not usable", standards: broken },
};
