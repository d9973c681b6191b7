export { startIngress } from './app';
export type { Ingress, IngressDeps } from './app';
export { loadIngressConfig, IngressEnvSchema } from './config';
export type { IngressConfig } from './config';
