/**
 * Google Calendar's operations, read from `@googleapis/calendar` (src/catalog/sources/googleapis.ts).
 * Sharing a calendar (acl) and the user's settings are admin.
 */
import { googleSource } from "./googleapis";

export const source = googleSource({
  service: "calendar",
  pkg: "@googleapis/calendar",
  version: "v3",
  admin: ["acl", "settings"],
});
