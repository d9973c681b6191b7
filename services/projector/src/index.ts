export { startProjector } from './app';
export type { ProjectorDeps, ProjectorService } from './app';
export { createProjector } from './projector';
export type { Projector, ProjectorOptions, ProjectorSettings, ProjectorCounters, ProjectorLag, MessageOutcome } from './projector';
export { decodeAuditEvent } from './decode';
export type { DecodedEvent } from './decode';
export { loadProjectorConfig, ProjectorEnvSchema, loadRebuildConfig, RebuildEnvSchema } from './config';
export type { ProjectorConfig, RebuildConfig } from './config';
