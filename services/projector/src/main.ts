import { tracing } from './otel';
import { runService } from '@dbroker/runtime';
import { startProjector } from './app';
import { loadProjectorConfig } from './config';

await runService({
  name: 'projector',
  tracing,
  loadConfig: () => loadProjectorConfig(),
  start: (config, ctx) => startProjector(config, ctx),
});
