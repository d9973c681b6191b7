export { startMamWorker, MAM_ROUTES } from './app';
export type { MamDeps } from './app';
export { loadMamConfig, MamEnvSchema, MAM_PAGE_LIMIT } from './config';
export type { MamConfig } from './config';
export { createMamHandler, MamRequestError } from './handler';
export type { MamHandler, MamHandlerOptions, MamWorkerRequest, OutboundSender } from './handler';
