/**
 * Gmail's operations, read from `@googleapis/gmail` (src/catalog/sources/googleapis.ts). Mailbox
 * settings (filters, forwarding, send-as, delegates, IMAP/POP, vacation) are admin: they decide where
 * mail goes.
 */
import { googleSource } from "./googleapis";

export const source = googleSource({ service: "gmail", pkg: "@googleapis/gmail", version: "v1", admin: ["settings"] });
