import { startTracing } from '@dbroker/telemetry';

// Evaluated before any other module of the service so that instrumentations hook in first.
export const tracing = startTracing({ serviceName: 'dbroker-ingress' });
