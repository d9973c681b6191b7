export { ConfigError, parseEnv, int, logLevel, natsUrl, databaseUrl, commonEnv, isSecretVariable } from './env';
export { natsEnv, natsSettingsIssues, credentialsInUrl, redactUrl, type NatsSettings } from './nats';
