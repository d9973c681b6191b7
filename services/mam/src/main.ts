import { tracing } from './otel';
import { runService } from '@dbroker/runtime';
import { startMamWorker } from './app';
import { loadMamConfig } from './config';

await runService({
  name: 'mam',
  tracing,
  loadConfig: () => loadMamConfig(),
  start: (config, ctx) => startMamWorker(config, ctx),
});
