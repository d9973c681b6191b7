import { tracing } from './otel';
import { runService } from '@dbroker/runtime';
import { startPepWorker } from './app';
import { loadPepConfig } from './config';

await runService({
  name: 'pep',
  tracing,
  loadConfig: () => loadPepConfig(),
  start: (config, ctx) => startPepWorker(config, ctx),
});
