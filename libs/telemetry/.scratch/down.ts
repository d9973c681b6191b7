import { startTracing } from '../src/tracing';
process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://127.0.0.1:9';
const t = startTracing({ serviceName: 'down' });
t.tracer.startActiveSpan('s', (span) => span.end());
const t0 = Date.now();
try { await t.shutdown(); console.log('shutdown resolved', Date.now() - t0, 'ms'); } catch (e) { console.log('shutdown rejected', Date.now() - t0, 'ms', (e as Error).message); }
