import { createRequire } from 'node:module';
import { context, isSpanContextValid, propagation, trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { NodeSDK, core, resources } from '@opentelemetry/sdk-node';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * Process-wide OpenTelemetry tracing on top of `@opentelemetry/sdk-node`.
 *
 * What is exported is chosen by the standard OTEL_* variables, with one deliberate difference from
 * sdk-node: when no exporter is configured at all we export nothing (sdk-node would default to OTLP on
 * localhost:4318 for traces, metrics and logs), but we still install a real tracer provider so trace
 * and span ids exist for log lines, audit rows and NATS headers.
 *
 * The pg instrumentation patches `pg` through a CommonJS require hook: `pg` must be loaded with
 * `require` (our libs use `createRequire(import.meta.url)('pg')`) and only after `startTracing` ran.
 */

export interface TracingOptions {
  /** `service.name` resource attribute; `OTEL_SERVICE_NAME` in `env` takes precedence. */
  serviceName: string;
  /** `service.version` resource attribute. */
  serviceVersion?: string;
  /**
   * Where the OTEL_* decisions (disabled, which exporters, service name) are read from. sdk-node and the
   * OTLP exporters read the details (endpoint, headers, protocol, sampler, batching, OTEL_RESOURCE_ATTRIBUTES)
   * from `process.env` themselves, so in production leave this at its default.
   */
  env?: NodeJS.ProcessEnv;
  /** Register the `pg` instrumentation (default true). */
  instrumentPg?: boolean;
  /**
   * Span processors to use instead of the OTEL_* exporters (tests: `SimpleSpanProcessor` around an
   * `InMemorySpanExporter`). When given, OTEL_TRACES_EXPORTER is not consulted except for OTEL_SDK_DISABLED.
   */
  spanProcessors?: SpanProcessor[];
}

export interface Tracing {
  /** The process tracer (named after the service that started tracing first). */
  readonly tracer: Tracer;
  /** Effective `service.name` of the process. */
  readonly serviceName: string;
  /** What the process does with finished spans. */
  readonly mode: TraceExportMode;
  /**
   * Releases this handle; the SDK is flushed and shut down when the last handle is released
   * (all-in-one mode: every service calls `startTracing` and `shutdown` once).
   */
  shutdown(): Promise<void>;
}

/**
 * - `disabled`: OTEL_SDK_DISABLED=true, the SDK is not started, the API stays a no-op (no trace ids).
 * - `local`: a real tracer provider whose spans go nowhere (or only to the given `spanProcessors`).
 * - `export`: sdk-node builds the exporters named in `exporters` from the OTEL_* variables.
 */
export type TraceExportMode =
  | { kind: 'disabled' }
  | { kind: 'local' }
  | { kind: 'export'; exporters: TraceExporterName[]; protocol: OtlpProtocol };

export type TraceExporterName = 'otlp' | 'console' | 'zipkin';
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';

const TRACE_EXPORTERS: readonly string[] = ['otlp', 'console', 'zipkin'];
const OTLP_PROTOCOLS: readonly string[] = ['http/protobuf', 'http/json', 'grpc'];

export class TelemetryConfigError extends Error {
  override readonly name = 'TelemetryConfigError';
  readonly code = 'telemetry-config';
}

function envString(env: NodeJS.ProcessEnv, key: string): string | undefined {
  const value = env[key]?.trim();
  return value ? value : undefined;
}

function envList(env: NodeJS.ProcessEnv, key: string): string[] {
  return (envString(env, key) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'null');
}

/**
 * Decides what tracing does from OTEL_* variables, mirroring sdk-node 0.223 except for the default:
 * - OTEL_SDK_DISABLED=true (case-insensitive) -> `disabled`.
 * - OTEL_TRACES_EXPORTER empty/unset: `export` with otlp when OTEL_EXPORTER_OTLP_ENDPOINT or
 *   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (the spec default exporter is otlp), otherwise `local`.
 * - OTEL_TRACES_EXPORTER containing `none` -> `local` (sdk-node would register no provider at all).
 * - otherwise `export` with the listed exporters (otlp, console, zipkin); anything else is a config error,
 *   as is an OTLP protocol other than http/protobuf, http/json or grpc.
 */
export function resolveTraceExportMode(env: NodeJS.ProcessEnv): TraceExportMode {
  if (envString(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return { kind: 'disabled' };

  let exporters = [...new Set(envList(env, 'OTEL_TRACES_EXPORTER'))];
  if (exporters.includes('none')) return { kind: 'local' };
  if (exporters.length === 0) {
    const endpoint =
      envString(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? envString(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    if (endpoint === undefined) return { kind: 'local' };
    exporters = ['otlp'];
  }
  const unknown = exporters.filter((e) => !TRACE_EXPORTERS.includes(e));
  if (unknown.length > 0) {
    throw new TelemetryConfigError(
      `unsupported OTEL_TRACES_EXPORTER value(s) ${unknown.join(', ')}; expected otlp, console, zipkin or none`,
    );
  }
  const protocol =
    envString(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ??
    envString(env, 'OTEL_EXPORTER_OTLP_PROTOCOL') ??
    'http/protobuf';
  if (!OTLP_PROTOCOLS.includes(protocol)) {
    throw new TelemetryConfigError(
      `unsupported OTLP protocol ${protocol}; expected http/protobuf, http/json or grpc`,
    );
  }
  return {
    kind: 'export',
    exporters: exporters as TraceExporterName[],
    protocol: protocol as OtlpProtocol,
  };
}

interface SharedTracing {
  sdk: NodeSDK | undefined;
  pg: PgInstrumentation | undefined;
  tracer: Tracer;
  serviceName: string;
  mode: TraceExportMode;
  handles: number;
}

// The OTel API registers its providers globally, so the SDK is per process by nature; this module
// state only makes a second `startTracing` (all-in-one mode) reuse the first instead of double-registering.
let shared: SharedTracing | undefined;

/** Starts tracing for the process, or joins the tracing already started in it. */
export function startTracing(options: TracingOptions): Tracing {
  const state = shared ?? (shared = createSharedTracing(options));
  state.handles += 1;
  let released = false;
  return {
    tracer: state.tracer,
    serviceName: state.serviceName,
    mode: state.mode,
    async shutdown() {
      if (released) return;
      released = true;
      state.handles -= 1;
      if (state.handles > 0 || shared !== state) return;
      shared = undefined;
      // Reset the globals synchronously so a later startTracing can register afresh.
      state.pg?.disable();
      if (state.sdk !== undefined) {
        trace.disable();
        propagation.disable();
        context.disable();
      }
      await state.sdk?.shutdown();
    },
  };
}

function createSharedTracing(options: TracingOptions): SharedTracing {
  const env = options.env ?? process.env;
  const mode = resolveTraceExportMode(env);
  const serviceName = envString(env, 'OTEL_SERVICE_NAME') ?? options.serviceName;
  const tracer = trace.getTracer(serviceName, options.serviceVersion);
  if (mode.kind === 'disabled') {
    return { sdk: undefined, pg: undefined, tracer, serviceName, mode, handles: 0 };
  }

  const instrumentPg = options.instrumentPg ?? true;
  if (instrumentPg) warnIfPgAlreadyLoaded();
  const pg = instrumentPg
    ? new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true })
    : undefined;

  // Without spanProcessors sdk-node builds the exporters from OTEL_TRACES_EXPORTER & co. itself.
  const spanProcessors =
    options.spanProcessors ?? (mode.kind === 'local' ? [new NoopSpanProcessor()] : undefined);

  let resource = resources.defaultResource();
  if (options.serviceVersion !== undefined) {
    resource = resource.merge(resources.resourceFromAttributes({ 'service.version': options.serviceVersion }));
  }

  const sdk = new NodeSDK({
    serviceName,
    resource,
    instrumentations: pg ? [pg] : [],
    textMapPropagator: new core.CompositePropagator({
      propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()],
    }),
    // Metrics are prom-client's and logs are pino's: an empty list keeps sdk-node from defaulting to OTLP.
    metricReaders: [],
    logRecordProcessors: [],
    ...(spanProcessors ? { spanProcessors } : {}),
  });
  sdk.start();
  return { sdk, pg, tracer, serviceName, mode, handles: 0 };
}

function warnIfPgAlreadyLoaded(): void {
  let pgMain: string;
  try {
    pgMain = createRequire(import.meta.url).resolve('pg');
  } catch {
    return; // pg is not installed where we can see it; nothing to check
  }
  // ESM imports of CommonJS put a not-yet-loaded placeholder in the cache at link time; only a loaded
  // module means pg's code already ran unpatched.
  if (createRequire(import.meta.url).cache[pgMain]?.loaded === true) {
    process.emitWarning(
      'pg was loaded before startTracing(); its queries are only traced if it is required again afterwards. ' +
        'Start tracing before importing modules that load pg.',
      { code: 'DBROKER_TELEMETRY_PG_PRELOADED' },
    );
  }
}

/** A tracer for one module or component of the process. */
export function getTracer(name: string, version?: string): Tracer {
  return trace.getTracer(name, version);
}

/** Trace and span id of the active span, if there is a valid one. */
export function currentSpanIds(): { traceId: string; spanId: string } | undefined {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return undefined;
  return { traceId: spanContext.traceId, spanId: spanContext.spanId };
}

/** Trace id of the active span, for audit rows and error replies. */
export function currentTraceId(): string | undefined {
  return currentSpanIds()?.traceId;
}
