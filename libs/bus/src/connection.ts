import { readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type NatsConnection,
  type TlsOptions,
} from '@nats-io/transport-node';
import type { BusLogger } from './logger';

/**
 * NATS credentials and TLS files, named as the services' environment variables (libs/config natsEnv,
 * checked there: at most one way of authenticating, a secret inline or as a file, not both).
 */
export interface BusAuthSettings {
  NATS_USER?: string | undefined;
  NATS_PASSWORD?: string | undefined;
  NATS_PASSWORD_FILE?: string | undefined;
  NATS_TOKEN?: string | undefined;
  NATS_TOKEN_FILE?: string | undefined;
  NATS_NKEY_SEED?: string | undefined;
  NATS_NKEY_SEED_FILE?: string | undefined;
  NATS_CREDS_FILE?: string | undefined;
  NATS_TLS_CA_FILE?: string | undefined;
  NATS_TLS_CERT_FILE?: string | undefined;
  NATS_TLS_KEY_FILE?: string | undefined;
}

export interface ConnectBusOptions {
  /** NATS_URL: one server or a comma-separated list; `user:pass@` / `token@` in it are used as credentials. */
  url: string;
  /** Connection name shown by the NATS server (service name and instance). */
  name: string;
  logger: BusLogger;
  /** How long a single connect attempt may take. */
  timeoutMs?: number;
  auth?: BusAuthSettings;
  /**
   * The service kind (ingress, pep, mam, projector, all-in-one): its reply subjects are `_INBOX.<kind>.>`,
   * so that the shipped NATS permissions (deploy/nats) let each identity read only its own replies.
   */
  kind?: string;
}

/** The inbox prefix of a service kind (see ConnectBusOptions.kind). */
export const inboxPrefixOf = (kind: string): string => `_INBOX.${kind}`;

const secret = (inline: string | undefined, file: string | undefined): string | undefined =>
  inline ?? (file !== undefined ? readFileSync(file, 'utf8').trim() : undefined);

/**
 * The connect options that carry identity: servers (credentials taken out of the URLs), the
 * authenticator and TLS. Files are read here, at connect time, so a rotated secret is picked up by a restart.
 */
export function busConnectOptions(url: string, auth: BusAuthSettings = {}): { servers: string[]; authenticator?: Authenticator; tls?: TlsOptions } {
  let fromUrl: { user: string; pass: string | undefined } | undefined;
  let tlsScheme = false;
  const servers = url.split(',').map((raw) => {
    const s = raw.trim();
    if (/^tls:\/\//i.test(s)) tlsScheme = true;
    const u = URL.canParse(s) ? new URL(s) : undefined;
    if (!u || (!u.username && !u.password)) return s;
    fromUrl = { user: decodeURIComponent(u.username), pass: u.password ? decodeURIComponent(u.password) : undefined };
    return s.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1');
  });
  const password = secret(auth.NATS_PASSWORD, auth.NATS_PASSWORD_FILE);
  const token = secret(auth.NATS_TOKEN, auth.NATS_TOKEN_FILE);
  const seed = secret(auth.NATS_NKEY_SEED, auth.NATS_NKEY_SEED_FILE);
  let authenticator: Authenticator | undefined;
  if (auth.NATS_USER !== undefined && password !== undefined) authenticator = usernamePasswordAuthenticator(auth.NATS_USER, password);
  else if (token !== undefined) authenticator = tokenAuthenticator(token);
  else if (seed !== undefined) authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  else if (auth.NATS_CREDS_FILE !== undefined) authenticator = credsAuthenticator(readFileSync(auth.NATS_CREDS_FILE));
  else if (fromUrl) authenticator = fromUrl.pass !== undefined ? usernamePasswordAuthenticator(fromUrl.user, fromUrl.pass) : tokenAuthenticator(fromUrl.user);
  const tlsFiles = auth.NATS_TLS_CA_FILE !== undefined || auth.NATS_TLS_CERT_FILE !== undefined || auth.NATS_TLS_KEY_FILE !== undefined;
  const tls: TlsOptions | undefined =
    tlsFiles || tlsScheme
      ? {
          ...(auth.NATS_TLS_CA_FILE !== undefined ? { caFile: auth.NATS_TLS_CA_FILE } : {}),
          ...(auth.NATS_TLS_CERT_FILE !== undefined ? { certFile: auth.NATS_TLS_CERT_FILE } : {}),
          ...(auth.NATS_TLS_KEY_FILE !== undefined ? { keyFile: auth.NATS_TLS_KEY_FILE } : {}),
        }
      : undefined;
  return { servers, ...(authenticator ? { authenticator } : {}), ...(tls ? { tls } : {}) };
}

export interface Bus {
  nc: NatsConnection;
  /** False while the client is reconnecting, draining or closed. */
  isConnected(): boolean;
  /** Drains subscriptions and pending publishes, then closes (bounded: closes anyway after timeoutMs). */
  drain(timeoutMs?: number): Promise<void>;
}

/**
 * Connects to NATS and keeps reconnecting forever (jittered), logging every status change.
 * The first connection must succeed: a service without its bus is not started.
 */
export async function connectBus({ url, name, logger, timeoutMs = 5000, auth, kind }: ConnectBusOptions): Promise<Bus> {
  const nc = await connect({
    ...busConnectOptions(url, auth),
    ...(kind ? { inboxPrefix: inboxPrefixOf(kind) } : {}),
    name,
    timeout: timeoutMs,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    pingInterval: 5_000,
    maxPingOut: 2,
  });
  let connected = true;
  logger.info({ server: nc.getServer() }, 'connected to NATS');
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        connected = false;
        logger.warn({ server: s.server }, 'NATS disconnected');
      } else if (s.type === 'reconnect') {
        connected = true;
        logger.info({ server: s.server }, 'NATS reconnected');
      } else if (s.type === 'error') {
        logger.error({ err: s.error }, 'NATS error');
      }
    }
  })().catch(() => undefined);
  void nc.closed().then(() => {
    connected = false;
  });
  return {
    nc,
    isConnected: () => connected && !nc.isClosed() && !nc.isDraining(),
    drain: async (timeoutMs = 5000) => {
      if (nc.isClosed()) return;
      // A drain cannot finish while the server is unreachable: bound it, then close.
      let timer: NodeJS.Timeout | undefined;
      const drained = nc.isDraining() ? nc.closed().then(() => true) : nc.drain().then(() => true, () => false);
      const ok = await Promise.race([drained, new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
      clearTimeout(timer);
      if (!ok) {
        logger.warn({ timeoutMs }, 'NATS drain did not finish; closing');
        await nc.close().catch(() => undefined);
      }
    },
  };
}
