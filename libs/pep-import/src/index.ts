export type { ImportItem, ImportNode, ImportUser, ImportProblem, ImportSource, ImportAffiliation, ImportSubscription } from './model';
export { importAll, importUser, importRequestId, checkNode } from './importer';
export type { ImportOptions, ImportSummary, UserReport, NodeReport, NodeStatus } from './importer';
export { createProsodyFileSource, encodeDm, encodeStore, decodeDm } from './prosody-files';
export type { ProsodyFilesOptions } from './prosody-files';
export { parseLuaReturn, parseLuaRecords, LuaTable, LuaDataError, DEFAULT_LUA_LIMITS } from './lua-data';
export type { LuaValue, LuaKey, LuaParseLimits } from './lua-data';
