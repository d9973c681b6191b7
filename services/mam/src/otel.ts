import { startTracing } from '@dbroker/telemetry';

// Evaluated before any other module of the service so that the pg instrumentation hooks in first.
export const tracing = startTracing({ serviceName: 'dbroker-mam' });
