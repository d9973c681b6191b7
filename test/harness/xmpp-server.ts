// One shape for the two real XMPP servers the broker is tested against, so that a suite can run the same
// scenarios on both: Prosody 0.12 (./prosody, delegation :2, privilege :2) and ejabberd 23.01 (./ejabberd,
// delegation :1, privilege :1). A handle fits startBrokerStack's `prosody` option as it is.
import { startEjabberd, type EjabberdHandle, type RosterItem } from './ejabberd';
import { startProsody, type ProsodyHandle } from './prosody';
import type { XmppServerCoordinates } from './stack';

export type XmppServerKind = 'prosody' | 'ejabberd';
export const XMPP_SERVER_KINDS: readonly XmppServerKind[] = ['prosody', 'ejabberd'];

export interface XmppServerUser {
  user: string;
  password: string;
}

export interface XmppServerOptions {
  users?: XmppServerUser[];
  componentJid?: string;
  componentSecret?: string;
  /** Delegate pubsub, pubsub#owner and MAM to the component. Default true. */
  delegations?: boolean;
  /** Roster get, outgoing messages, roster presence for the component. Default true. */
  privileges?: boolean;
  /** Rosters of users of `localhost`, by username (both harnesses take this shape), written before clients log in. */
  rosters?: Record<string, RosterItem[]>;
  /** 'debug' keeps the most detail for failing tests; benchmarks want 'warn'. Default: each harness's own. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** What the server does that the suites must know about (protocol-notes §1). */
export interface XmppServerTraits {
  delegationNs: 'urn:xmpp:delegation:1' | 'urn:xmpp:delegation:2';
  privilegeNs: 'urn:xmpp:privilege:1' | 'urn:xmpp:privilege:2';
  /** Filtering attributes honoured: a MAM query without `node` never reaches the component. */
  filtering: boolean;
  /** The server forwards a request to the user's own account without `to` as it came (Prosody) or fills it. */
  keepsMissingTo: boolean;
  /** A client that just disconnects (no </stream>) is reported to the component with an unavailable presence. */
  unavailableOnDisconnect: boolean;
}

export interface XmppServerHandle extends XmppServerCoordinates {
  kind: XmppServerKind;
  traits: XmppServerTraits;
  c2sPort: number;
  dir: string;
  /** The server's own log file. */
  logPath: string;
  /** PID to take CPU readings from (Prosody: lua; ejabberd: beam.smp when found). */
  cpuPid: number;
  register(user: string, password: string): Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  /** The underlying handle, for server-specific calls. */
  prosody?: ProsodyHandle;
  ejabberd?: EjabberdHandle;
}

export const SERVER_TRAITS: Record<XmppServerKind, XmppServerTraits> = {
  prosody: { delegationNs: 'urn:xmpp:delegation:2', privilegeNs: 'urn:xmpp:privilege:2', filtering: true, keepsMissingTo: true, unavailableOnDisconnect: true },
  ejabberd: { delegationNs: 'urn:xmpp:delegation:1', privilegeNs: 'urn:xmpp:privilege:1', filtering: false, keepsMissingTo: false, unavailableOnDisconnect: false },
};

export async function startXmppServer(kind: XmppServerKind, opts: XmppServerOptions = {}): Promise<XmppServerHandle> {
  const common = {
    ...(opts.componentJid ? { componentJid: opts.componentJid } : {}),
    ...(opts.componentSecret ? { componentSecret: opts.componentSecret } : {}),
    delegations: opts.delegations ?? true,
    privileges: opts.privileges ?? true,
    users: opts.users ?? [],
    ...(opts.rosters ? { rosters: opts.rosters } : {}),
  };
  if (kind === 'prosody') {
    const h = await startProsody({ ...common, ...(opts.logLevel ? { logLevel: opts.logLevel } : {}) });
    return {
      kind, traits: SERVER_TRAITS.prosody, c2sPort: h.c2sPort, componentPort: h.componentPort, componentJid: h.componentJid, secret: h.secret,
      domain: h.domain, dir: h.dir, logPath: h.logPath, cpuPid: h.pid, prosody: h,
      register: (user, password) => h.register(user, password), stop: () => h.stop(), [Symbol.asyncDispose]: () => h.stop(),
    };
  }
  const level = opts.logLevel === 'warn' ? 'warning' : opts.logLevel;
  const h = await startEjabberd({ ...common, ...(level ? { logLevel: level } : {}) });
  return {
    kind, traits: SERVER_TRAITS.ejabberd, c2sPort: h.c2sPort, componentPort: h.componentPort, componentJid: h.componentJid, secret: h.secret,
    domain: h.domain, dir: h.dir, logPath: h.logPath, cpuPid: h.beamPid ?? h.pid, ejabberd: h,
    register: (user, password) => h.register(user, password), stop: () => h.stop(), [Symbol.asyncDispose]: () => h.stop(),
  };
}
