/**
 * Google Drive's operations (API v3, the SDK's default), read from `@googleapis/drive`
 * (src/catalog/sources/googleapis.ts). Sharing (permissions) and shared drives are admin. The SDK also
 * ships Drive v2; its paths (/drive/v2/...) are not catalogued, so they stay `action.unknown`.
 */
import { googleSource } from "./googleapis";

export const source = googleSource({
  service: "drive",
  pkg: "@googleapis/drive",
  version: "v3",
  admin: ["permissions", "drives", "teamdrives"],
});
