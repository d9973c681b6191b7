export {
  TelemetryConfigError,
  currentSpanIds,
  currentTraceId,
  getTracer,
  resolveTraceExportMode,
  startTracing,
} from './tracing';
export type { OtlpProtocol, TraceExportMode, TraceExporterName, Tracing, TracingOptions } from './tracing';
export { createLogger } from './logger';
export type { Logger, LoggerOptions } from './logger';
export { DEFAULT_METRICS_PREFIX, MetricConflictError, createMetrics } from './metrics';
export type { Metrics, MetricsOptions } from './metrics';
export { DEFAULT_CHECK_TIMEOUT_MS, DEFAULT_OPS_HOST, DuplicateCheckError, startOpsServer } from './http';
export type { HealthCheck, OpsServer, OpsServerOptions, ReadyCheck } from './http';
export type { Tracer } from '@opentelemetry/api';
export type { Counter, Gauge, Histogram, Registry } from 'prom-client';
