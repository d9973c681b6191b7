export { ConfigError, parseEnv, int, logLevel, natsUrl, databaseUrl, commonEnv } from './env';
export { databaseEnv, databaseChosen, databaseChoice, DATABASE_CHOICE_MESSAGE } from './database-env';
