import { tracing } from './otel';
import { runService } from '@dbroker/runtime';
import { startIngress } from './app';
import { loadIngressConfig } from './config';

await runService({
  name: 'ingress',
  tracing,
  loadConfig: () => loadIngressConfig(),
  start: (config, ctx) => startIngress(config, { ...ctx }),
});
