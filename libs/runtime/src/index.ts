export { runService } from './run-service';
export type { ServiceContext, BaseServiceConfig, Stoppable, RunServiceOptions } from './run-service';
