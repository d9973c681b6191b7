import type { IqRequestEnvelope, IqResponseEnvelope } from '@dbroker/bus';

/**
 * Sends an IQ through the ingress (`iqSubject(prefix, server)`): the ingress builds the stanza from the
 * envelope and answers with the response IQ or a refusal. Injected, so this lib needs no NATS.
 * It must settle: the bus client bounds it with its own timeout (a guard here bounds it again).
 */
export type SendIq = (env: IqRequestEnvelope) => Promise<IqResponseEnvelope>;

/** The part of a pino logger the user-state modules use. */
export interface UserStateLogger {
  warn(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}
