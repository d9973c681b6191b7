import { pino } from 'pino';
import type { DestinationStream, LevelWithSilentOrString, Logger as PinoLogger, LoggerOptions as PinoOptions } from 'pino';
import { currentSpanIds } from './tracing';

export type Logger = PinoLogger;

export interface LoggerOptions {
  /** Written as `service` on every line. */
  service: string;
  /** pino level name; callers pass their parsed LOG_LEVEL. Default `info`. */
  level?: LevelWithSilentOrString;
  /** Where JSON lines go; default stdout. */
  destination?: DestinationStream;
}

/**
 * The process logger: JSON lines with `level` as a label, ISO `time`, `service`, and `trace_id` /
 * `span_id` of the active OpenTelemetry span when there is one. Hand it down as children.
 */
export function createLogger({ service, level = 'info', destination }: LoggerOptions): Logger {
  const options: PinoOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: traceMixin,
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

function traceMixin(): { trace_id?: string; span_id?: string } {
  const ids = currentSpanIds();
  return ids === undefined ? {} : { trace_id: ids.traceId, span_id: ids.spanId };
}
