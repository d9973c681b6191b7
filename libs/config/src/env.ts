import { z } from 'zod';
import { natsEnv, natsSettingsIssues, redactUrl, type NatsSettings } from './nats';

/** Raised when configuration is invalid; the message lists every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses environment variables with a zod object schema; unknown variables are ignored. */
export function parseEnv<S extends z.ZodObject>(schema: S, env: Record<string, string | undefined>, service: string): z.infer<S> {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') clean[k] = v;
  const res = schema.safeParse(clean);
  if (!res.success) {
    const lines = res.error.issues.map((i) => {
      const key = i.path.join('.');
      const got = !(key in clean) ? '' : isSecretVariable(key) ? ' (value not shown: a secret)' : ` (got ${shownValue(key, clean[key]!)})`;
      return `  ${key}: ${i.message}${got}`;
    });
    throw new ConfigError(`invalid configuration for ${service}:\n${lines.join('\n')}`);
  }
  const data = res.data as Record<string, unknown>;
  if (typeof data.NATS_URL === 'string') {
    const issues = natsSettingsIssues(data as NatsSettings);
    if (issues.length > 0) throw new ConfigError(`invalid configuration for ${service}:\n${issues.map((i) => `  ${i}`).join('\n')}`);
  }
  return res.data;
}

/** Variables whose value is a secret: an error names them, never shows their value. */
export const isSecretVariable = (name: string): boolean => /(PASSWORD|TOKEN|SECRET|SEED|_KEY)$/.test(name);

/** How a bad value appears in an error: URLs without their credentials. */
function shownValue(key: string, value: string): string {
  return JSON.stringify(/URL$/.test(key) ? redactUrl(value) : value);
}

/** An integer env var with bounds and a default; the unit belongs in the variable's name. */
export const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

export const natsUrl = z
  .string()
  .refine((s) => s.split(',').every((u) => /^(nats|tls|ws|wss):\/\/[^\s]+$/.test(u.trim())), 'must be nats://host:port (comma-separated for a cluster)');

export const databaseUrl = z.string().refine((s) => /^postgres(ql)?:\/\//.test(s), 'must be postgres://user@host:port/db');

/** Settings every service shares. */
export const commonEnv = {
  LOG_LEVEL: logLevel,
  /** HTTP port of /healthz, /readyz and /metrics; 0 picks a free one. */
  HTTP_PORT: int(9464, 0, 65535),
  HTTP_HOST: z.string().default('127.0.0.1'),
  SUBJECT_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'NATS subject tokens only').default('xmpp'),
  EVENTS_STREAM: z.string().regex(/^[A-Za-z0-9_-]+$/).default('DBROKER_EVENTS'),
  EVENTS_SUBJECT_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/).default('dbroker.events'),
  /** Events stream retention (applied by the ingress and the projector, at creation and on start): 0 = unlimited. */
  EVENTS_STREAM_MAX_AGE_MS: int(604_800_000, 0, 315_360_000_000),
  EVENTS_STREAM_MAX_BYTES: int(1_073_741_824, 0, Number.MAX_SAFE_INTEGER),
  /** NATS credentials and TLS (see nats.ts); every service connects to NATS. */
  ...natsEnv,
};
