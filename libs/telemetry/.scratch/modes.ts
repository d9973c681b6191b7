import http from 'node:http';
import { startTracing, currentTraceId } from '../src/tracing';
const got: string[] = [];
const server = http.createServer((req, res) => { let n = 0; req.on('data', (c) => (n += c.length)); req.on('end', () => { got.push(`${req.method} ${req.url} ${req.headers['content-type']} ${n}B`); res.writeHead(200, {'content-type': req.headers['content-type']}); res.end(); }); });
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as any).port;
const scenario = process.argv[2];
if (scenario === 'otlp-proto') { process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${port}`; }
if (scenario === 'otlp-json') { process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${port}`; process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json'; }
if (scenario === 'otlp-grpc') { process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${port}`; process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'grpc'; }
if (scenario === 'console') { process.env.OTEL_TRACES_EXPORTER = 'console'; }
if (scenario === 'none') { process.env.OTEL_TRACES_EXPORTER = 'none'; }
if (scenario === 'disabled') { process.env.OTEL_SDK_DISABLED = 'true'; }
if (scenario === 'svc') { process.env.OTEL_SERVICE_NAME = 'from-env'; process.env.OTEL_TRACES_EXPORTER = 'console'; }
const t = startTracing({ serviceName: 'modes', serviceVersion: '1.2.3' });
console.log(scenario, t.mode, t.serviceName);
t.tracer.startActiveSpan('s', (span) => { console.log('traceId', currentTraceId()); span.end(); });
await t.shutdown();
console.log('received', got);
server.close();
