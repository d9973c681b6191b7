export { ConfigError, parseEnv, int, logLevel, natsUrl, databaseUrl, commonEnv, isSecretVariable } from './env';
export { natsEnv, natsSettingsIssues, credentialsInUrl, redactUrl, type NatsSettings } from './nats';
export { databaseEnv, databaseChosen, databaseChoice, DATABASE_CHOICE_MESSAGE } from './database-env';
