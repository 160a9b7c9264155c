/**
 * Stage 1, route: pick the service and build the canonical request from one parse of the URL. The
 * canonical path is what is classified and what is forwarded, so the two can never disagree.
 * Anything ambiguous is refused, never guessed. Pure.
 */

import { MAX_HEADER_BYTES, MAX_URL_LENGTH } from "../core/limits";
import { type Result, refuse } from "../core/result";
import { own } from "../policy/routes";
import { METHODS, type Method, type ServiceSpec } from "../policy/types";

export interface CanonicalRequest {
  service: ServiceSpec;
  method: Method;
  /** Canonical segments after the service: unreserved characters decoded, other escapes upper-case. */
  segments: string[];
  /** `/` + segments joined: the upstream path. */
  path: string;
  /** The query as received (`?...`), or "". */
  rawQuery: string;
  query: Record<string, string>;
  /** The Authorization header value, checked to hold at most one credential. */
  authorization: string | null;
  /**
   * The gateway's URL for this service in the form the call came in (`https://<gateway>/<service>`
   * or `https://<service>.<GATEWAY_DOMAIN>`): where Link and Location headers are pointed back to.
   * Absent for requests that never came over HTTP (replay).
   */
  publicBase?: string;
}

export interface RouteInput {
  method: string;
  url: string;
  headers: Headers;
}

const OVERRIDE_HEADERS = ["x-http-method-override", "x-http-method", "x-method-override"];
const RAW_CONTROL = /[\x00-\x20\x7f]/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

export function route(
  input: RouteInput,
  services: Record<string, ServiceSpec>,
  gatewayDomain: string | undefined,
): Result<{ request: CanonicalRequest }> {
  if (!(METHODS as readonly string[]).includes(input.method))
    return refuse("route.bad_method", input.method.slice(0, 16));
  if (input.url.length > MAX_URL_LENGTH) return refuse("request.url_too_long", String(input.url.length));
  const headerBytes = headersSize(input.headers);
  if (headerBytes > MAX_HEADER_BYTES) return refuse("request.headers_too_large", String(headerBytes));
  for (const h of OVERRIDE_HEADERS) if (input.headers.has(h)) return refuse("route.method_override", h);
  const authorization = input.headers.get("authorization");
  if (authorization !== null && !singleCredential(authorization)) return refuse("route.duplicate_authorization");

  const { rawPath, rawQuery, host } = splitUrl(input.url);
  if (RAW_CONTROL.test(rawPath) || RAW_CONTROL.test(rawQuery)) return refuse("route.control_character");

  let parts = rawPath.split("/").slice(1);
  let serviceName = serviceFromHost(host, gatewayDomain);
  if (serviceName === null) {
    serviceName = parts[0] ?? "";
    parts = parts.slice(1);
  }
  const service = own(services, serviceName);
  if (!service) return refuse("route.unknown_service", serviceName.slice(0, 64));

  // "/github" and "/github/" both name the upstream root; any other empty segment is ambiguous.
  if (parts.length === 1 && parts[0] === "") parts = [];
  const segments: string[] = [];
  for (const part of parts) {
    const seg = canonicalSegment(part);
    if (!seg.ok) return seg;
    segments.push(seg.value);
  }
  const query = parseQuery(rawQuery);
  if (!query.ok) return query;
  const method = input.method as Method;
  const path = `/${segments.join("/")}`;
  const hostForm = serviceFromHost(host, gatewayDomain) !== null;
  const publicBase = `${input.url.slice(0, input.url.indexOf("://"))}://${host}${hostForm ? "" : `/${service.name}`}`;
  const request = { service, method, segments, path, rawQuery, query: query.value, authorization, publicBase };
  return { ok: true, request };
}

function headersSize(headers: Headers): number {
  let size = 0;
  for (const [name, value] of headers) size += name.length + value.length + 4;
  return size;
}

/** One `Bearer <token>` and nothing else: a comma or a second word means two credentials. */
function singleCredential(value: string): boolean {
  if (value.includes(",")) return false;
  return value.trim().split(/\s+/).length <= 2;
}

function splitUrl(url: string): { rawPath: string; rawQuery: string; host: string } {
  const afterScheme = url.indexOf("://") + 3;
  const pathStart = url.indexOf("/", afterScheme);
  const host = url.slice(afterScheme, pathStart === -1 ? undefined : pathStart);
  let rest = pathStart === -1 ? "/" : url.slice(pathStart);
  const hash = rest.indexOf("#");
  if (hash !== -1) rest = rest.slice(0, hash);
  const q = rest.indexOf("?");
  return q === -1
    ? { rawPath: rest, rawQuery: "", host }
    : { rawPath: rest.slice(0, q), rawQuery: rest.slice(q), host };
}

function serviceFromHost(host: string, gatewayDomain: string | undefined): string | null {
  if (!gatewayDomain) return null;
  const name = host.toLowerCase().replace(/:\d+$/, "");
  const suffix = `.${gatewayDomain.toLowerCase()}`;
  if (!name.endsWith(suffix)) return null;
  const label = name.slice(0, -suffix.length);
  return label.includes(".") ? null : label;
}

/** Decodes, refuses what an upstream could read differently, and re-encodes to one canonical form. */
export function canonicalSegment(raw: string): Result<{ value: string }> {
  if (raw === "") return refuse("route.empty_segment");
  if (raw.includes(";")) return refuse("route.path_parameter");
  if (raw.includes("\\")) return refuse("route.encoded_slash", "backslash");
  const decoded = percentDecode(raw);
  if (decoded === null) return refuse("route.bad_encoding");
  // Check every layer an upstream or a proxy in front of it might decode, not only the first:
  // `%252F` and `%25252F` are a slash to something that decodes two or three times.
  let layer: string | null = decoded;
  for (let depth = 0; layer !== null && depth < 4; depth++) {
    if (layer.includes("/") || layer.includes("\\"))
      return refuse("route.encoded_slash", depth ? "multiply-encoded" : undefined);
    if (layer === "." || layer === "..") return refuse("route.dot_segment", depth ? "multiply-encoded" : undefined);
    if (layer.includes(";")) return refuse("route.path_parameter", "encoded");
    if (/[\x00-\x1f\x7f]/.test(layer)) return refuse("route.control_character", "encoded");
    const next: string | null = /%[0-9a-fA-F]{2}/.test(layer) ? percentDecode(layer) : null;
    layer = next === layer ? null : next;
  }
  return { ok: true, value: encodeSegment(raw) };
}

/**
 * RFC 3986 section 6.2.2 normalisation of a segment already checked to decode cleanly: escapes of
 * unreserved characters are decoded (`%6D` -> `m`), other escapes are upper-cased, everything else is
 * kept exactly as sent.
 */
function encodeSegment(raw: string): string {
  if (!raw.includes("%")) return raw;
  return raw.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => {
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

/** Strict percent-decoding: malformed escapes and invalid UTF-8 give null. */
export function percentDecode(s: string): string | null {
  if (!s.includes("%")) return s;
  if (/%(?![0-9a-fA-F]{2})/.test(s)) return null;
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

function parseQuery(rawQuery: string): Result<{ value: Record<string, string> }> {
  const out: Record<string, string> = Object.create(null);
  if (rawQuery.length <= 1) return { ok: true, value: out };
  // Some servers (older Rails, Java containers) also split on `;`: `a=1;b=2` would be two parameters
  // upstream and one here.
  if (rawQuery.includes(";")) return refuse("route.query_separator");
  for (const pair of rawQuery.slice(1).split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = percentDecode((eq === -1 ? pair : pair.slice(0, eq)).replaceAll("+", " "));
    const value = percentDecode((eq === -1 ? "" : pair.slice(eq + 1)).replaceAll("+", " "));
    if (key === null || value === null) return refuse("route.bad_encoding", "query");
    if (key === "_method") return refuse("route.method_override", "_method");
    if (key in out) return refuse("route.duplicate_query", key.slice(0, 64));
    out[key] = value;
  }
  return { ok: true, value: out };
}

/** The query as sorted `[name, value]` pairs: how the step log and approval digests hold it. */
export function sortedQuery(query: Record<string, string>): [string, string][] {
  return Object.entries(query).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
