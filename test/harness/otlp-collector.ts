// A tiny in-memory OTLP/HTTP receiver for tests (OTLP spec "OTLP/HTTP", JSON encoding:
// https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding). Services under test are started with
//   OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=http/json OTEL_EXPORTER_OTLP_ENDPOINT=<url>
//   OTEL_BSP_SCHEDULE_DELAY=200
// (see otlpEnv()). Binary protobuf bodies are answered 415 and counted, so a test can assert that a service
// did not silently fall back to the default http/protobuf exporter.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';

export const SPAN_KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
export type SpanKindName = (typeof SPAN_KIND_NAMES)[number];

export interface CollectedSpan {
  traceId: string; // 32 lowercase hex
  spanId: string; // 16 lowercase hex
  parentSpanId: string | undefined;
  name: string;
  kind: number; // OTLP SpanKind enum value (2 = SERVER, 3 = CLIENT, 4 = PRODUCER, 5 = CONSUMER)
  kindName: SpanKindName;
  /** resource attribute service.name */
  service: string | undefined;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  scope: string | undefined;
  startTimeUnixNano: string | undefined;
  endTimeUnixNano: string | undefined;
  status: { code: number; message?: string } | undefined;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
}

export interface CollectorStats {
  /** accepted (decoded) trace export requests */
  traceRequests: number;
  /** bodies with a protobuf content type, answered 415 */
  protobufRejected: number;
  /** JSON that did not parse, answered 400 */
  badRequests: number;
  /** /v1/metrics and /v1/logs requests, accepted and ignored */
  otherSignals: number;
}

export interface OtlpCollector {
  /** Base endpoint for OTEL_EXPORTER_OTLP_ENDPOINT (the SDK appends /v1/traces). */
  url: string;
  port: number;
  spans(): CollectedSpan[];
  stats(): CollectorStats;
  clear(): void;
  /** First span (already received or future) matching pred; rejects after timeoutMs. */
  waitFor(pred: (span: CollectedSpan) => boolean, timeoutMs?: number): Promise<CollectedSpan>;
  /** Resolves with all spans once pred(all spans) holds; rejects after timeoutMs. */
  waitUntil(pred: (spans: CollectedSpan[]) => boolean, timeoutMs?: number): Promise<CollectedSpan[]>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_WAIT_MS = 10_000;
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Environment for a service that should export its traces to this collector. */
export function otlpEnv(url: string, serviceName?: string): Record<string, string> {
  return {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    ...(serviceName ? { OTEL_SERVICE_NAME: serviceName } : {}),
  };
}

// ---- pure decoding of the OTLP JSON encoding -------------------------------------------------------------

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** OTLP JSON ids are hex; tolerate base64 (proto3 JSON mapping of bytes) from non-conforming exporters. */
export function normalizeId(id: unknown, bytes: number): string | undefined {
  if (typeof id !== 'string' || id === '') return undefined;
  if (new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(id)) return /^0+$/.test(id) ? undefined : id.toLowerCase();
  const buf = Buffer.from(id, 'base64');
  if (buf.length === bytes) return buf.toString('hex');
  return id;
}

export function anyValue(v: Json): unknown {
  if (v === null || typeof v !== 'object') return v;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return typeof v.intValue === 'string' ? Number(v.intValue) : v.intValue; // int64 may come as a string
  if ('doubleValue' in v) return v.doubleValue;
  if ('bytesValue' in v) return v.bytesValue;
  if ('arrayValue' in v) return ((v.arrayValue?.values ?? []) as Json[]).map(anyValue);
  if ('kvlistValue' in v) return keyValues(v.kvlistValue?.values);
  return undefined;
}

export function keyValues(list: Json): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of (Array.isArray(list) ? list : []) as Json[]) if (kv && typeof kv.key === 'string') out[kv.key] = anyValue(kv.value);
  return out;
}

function spanKind(kind: unknown): number {
  if (typeof kind === 'number') return kind;
  if (typeof kind === 'string') {
    const i = SPAN_KIND_NAMES.indexOf(kind.replace(/^SPAN_KIND_/, '').toLowerCase() as SpanKindName);
    return i < 0 ? 0 : i;
  }
  return 0;
}

/** Status.code: 0 UNSET, 1 OK, 2 ERROR (number, or the enum name in proto3 JSON). */
function statusCode(code: unknown): number {
  if (typeof code === 'number') return code;
  const i = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'].indexOf(String(code));
  return i < 0 ? 0 : i;
}

/** ExportTraceServiceRequest (JSON) -> flat spans. Throws on a body that is not one. */
export function decodeTraces(body: Json): CollectedSpan[] {
  if (!body || typeof body !== 'object' || !Array.isArray(body.resourceSpans)) throw new Error('not an ExportTraceServiceRequest');
  const out: CollectedSpan[] = [];
  for (const rs of body.resourceSpans as Json[]) {
    const resource = keyValues(rs?.resource?.attributes);
    const service = typeof resource['service.name'] === 'string' ? (resource['service.name'] as string) : undefined;
    for (const ss of (rs?.scopeSpans ?? rs?.instrumentationLibrarySpans ?? []) as Json[]) {
      const scope = ss?.scope?.name ?? ss?.instrumentationLibrary?.name;
      for (const s of (ss?.spans ?? []) as Json[]) {
        const kind = spanKind(s.kind);
        out.push({
          traceId: normalizeId(s.traceId, 16) ?? '',
          spanId: normalizeId(s.spanId, 8) ?? '',
          parentSpanId: normalizeId(s.parentSpanId, 8),
          name: String(s.name ?? ''),
          kind,
          kindName: SPAN_KIND_NAMES[kind] ?? 'unspecified',
          service,
          attributes: keyValues(s.attributes),
          resource,
          scope,
          startTimeUnixNano: s.startTimeUnixNano === undefined ? undefined : String(s.startTimeUnixNano),
          endTimeUnixNano: s.endTimeUnixNano === undefined ? undefined : String(s.endTimeUnixNano),
          status: s.status ? { code: statusCode(s.status.code), ...(s.status.message ? { message: String(s.status.message) } : {}) } : undefined,
          events: ((s.events ?? []) as Json[]).map((e) => ({ name: String(e?.name ?? ''), attributes: keyValues(e?.attributes) })),
        });
      }
    }
  }
  return out;
}

// ---- the HTTP edge ------------------------------------------------------------------------------------------

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
}

export async function startOtlpCollector(): Promise<OtlpCollector> {
  const collected: CollectedSpan[] = [];
  const stats: CollectorStats = { traceRequests: 0, protobufRejected: 0, badRequests: 0, otherSignals: 0 };
  let listeners: Array<() => void> = [];
  const notify = () => { for (const l of listeners) l(); };

  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method !== 'POST') return reply(res, 405, { message: 'POST only' });
      if (path !== '/v1/traces' && path !== '/v1/metrics' && path !== '/v1/logs') return reply(res, 404, { message: 'unknown path' });
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      let body: Buffer;
      try {
        body = await readBody(req);
      } catch {
        stats.badRequests++;
        return reply(res, 400, { message: 'unreadable body' });
      }
      if (type.includes('protobuf')) {
        stats.protobufRejected++;
        return reply(res, 415, { message: 'this test collector accepts application/json only (OTEL_EXPORTER_OTLP_PROTOCOL=http/json)' });
      }
      if (type !== 'application/json') {
        stats.badRequests++;
        return reply(res, 415, { message: `unsupported content-type ${type}` });
      }
      if (path !== '/v1/traces') {
        stats.otherSignals++;
        return reply(res, 200, {});
      }
      try {
        collected.push(...decodeTraces(JSON.parse(body.toString('utf8'))));
      } catch (err) {
        stats.badRequests++;
        return reply(res, 400, { message: (err as Error).message });
      }
      stats.traceRequests++;
      reply(res, 200, {}); // ExportTraceServiceResponse without partialSuccess
      notify();
    })().catch(() => { if (!res.headersSent) reply(res, 500, {}); });
  });
  server.keepAliveTimeout = 1_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  async function waitUntil(pred: (spans: CollectedSpan[]) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<CollectedSpan[]> {
    if (pred(collected)) return [...collected];
    return await new Promise((resolve, reject) => {
      const check = () => {
        if (!pred(collected)) return;
        done();
        resolve([...collected]);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`OTLP collector: condition not met within ${timeoutMs} ms (${collected.length} spans: ${collected.map((s) => `${s.service}/${s.name}`).join(', ')})`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners = listeners.filter((l) => l !== check);
      };
      listeners.push(check);
    });
  }

  const stop = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    spans: () => [...collected],
    stats: () => ({ ...stats }),
    clear: () => { collected.length = 0; },
    waitFor: async (pred, timeoutMs) => (await waitUntil((all) => all.some(pred), timeoutMs)).find(pred)!,
    waitUntil,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
