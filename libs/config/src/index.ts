export { ConfigError, parseEnv, int, logLevel, natsUrl, databaseUrl, commonEnv } from './env';
