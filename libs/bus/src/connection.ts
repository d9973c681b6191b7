import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { BusLogger } from './logger';

export interface ConnectBusOptions {
  url: string;
  /** Connection name shown by the NATS server (service name and instance). */
  name: string;
  logger: BusLogger;
  /** How long a single connect attempt may take. */
  timeoutMs?: number;
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
export async function connectBus({ url, name, logger, timeoutMs = 5000 }: ConnectBusOptions): Promise<Bus> {
  const nc = await connect({
    servers: url.split(',').map((s) => s.trim()),
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
