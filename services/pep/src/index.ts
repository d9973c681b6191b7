export { startPepWorker, PEP_ROUTES } from './app';
export type { PepDeps } from './app';
export { loadPepConfig, PepEnvSchema } from './config';
export type { PepConfig } from './config';
