/**
 * Reading a request body, bounded: the pure front half decides on text, so the pipeline reads the
 * stream here, refusing a body over `max_body_bytes` or one that is not strict UTF-8 before anything is
 * decided about it. A body the decision does not read is never buffered: it streams to the upstream.
 */
import type { Refusal, Result } from "../core/result";
import type { ActionSpec, ServiceSpec } from "../policy/types";
import { bodyFields, bodyFormatOf, type MediaType } from "../request/facts";

/** The bytes (forwarded as read) and their text (what the decision parses). */
export type BodyRead = Result<{ bytes: Uint8Array; text: string }>;

export async function readBody(request: Request, max: number): Promise<BodyRead> {
  const read = await readBounded(request, max);
  if (!read.ok) return read;
  const text = decodeUtf8(read.bytes);
  if (text === undefined) return { ok: false, reason: "request.body_invalid", detail: "body is not UTF-8" };
  return { ok: true, bytes: read.bytes, text };
}

/** A body an approval binds, read and checked to parse as the upstream parses it. */
export async function readApprovedBody(
  request: Request,
  service: ServiceSpec,
  spec: ActionSpec,
  max: number,
): Promise<Result<{ body: Uint8Array; mediaType: MediaType }>> {
  const read = await readBody(request, max);
  if (!read.ok) return read;
  if (read.bytes.byteLength === 0) return { ok: true, body: read.bytes, mediaType: "" };
  const fields = bodyFields(bodyFormatOf(service, spec), request.headers.get("content-type"), read.text);
  return fields.ok ? { ok: true, body: read.bytes, mediaType: fields.mediaType } : fields;
}

async function readBounded(request: Request, max: number): Promise<{ ok: true; bytes: Uint8Array } | Refusal> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > max) return { ok: false, reason: "request.body_too_large" };
  if (!request.body) return { ok: true, bytes: new Uint8Array(0) };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return { ok: false, reason: "request.body_too_large" };
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return { ok: true, bytes };
}

/** Strict UTF-8: a body policy reads must mean the same to the upstream, so no replacement characters. */
function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    // ignoreBOM keeps a byte order mark in the text, so JSON.parse refuses what some upstreams skip.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
