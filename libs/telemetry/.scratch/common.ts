import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startTracing } from '../src/tracing';
export const exporter = new InMemorySpanExporter();
export const processor = new SimpleSpanProcessor(exporter);
export function start() { return startTracing({ serviceName: 'scratch', spanProcessors: [processor] }); }
export async function run(pg: any, tracing: ReturnType<typeof start>, label: string) {
  const client = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'postgres' });
  await tracing.tracer.startActiveSpan('parent', async (span) => { await client.connect(); await client.query('select 1'); span.end(); });
  await client.end();
  await processor.forceFlush();
  console.log(label, exporter.getFinishedSpans().map((s) => s.name));
  exporter.reset();
}
