import type { PrivilegeAdvertisement } from '@dbroker/protocol';

/**
 * The XEP-0356 permissions the server granted on the current component stream. Like GrantTable it belongs
 * to one stream: cleared when the link goes offline; the server advertises again after the next handshake
 * (possibly before xmpp.js reports `online`). Both servers send their complete set in one message, so a
 * new advertisement replaces the previous one.
 */
export class PrivilegeState {
  private current: PrivilegeAdvertisement | null = null;

  apply(adv: PrivilegeAdvertisement): void {
    this.current = { version: adv.version, perms: { ...adv.perms, iq: adv.perms.iq.map((p) => ({ ...p })) } };
  }

  clear(): void {
    this.current = null;
  }

  /** The last advertisement on this stream, or null when none came (mod_privilege absent, component not configured). */
  get(): PrivilegeAdvertisement | null {
    return this.current;
  }
}

/** What an operator has to configure for `message='outgoing'`, on either server. */
export function messagePermissionHint(server: string, component: string): string {
  return (
    `grant the component the outgoing message privilege: Prosody: in VirtualHost "${server}" set ` +
    `privileged_entities = { ["${component}"] = { message = "outgoing" } } and enable "privilege" globally and on the Component; ` +
    `ejabberd: mod_privilege: {message: {outgoing: RULE}} with an access rule matching ${component}`
  );
}

/** What an operator has to configure for the privileged roster get (and presences of the users' contacts). */
export function rosterPermissionHint(server: string, component: string): string {
  return (
    `grant the component the roster get privilege: Prosody: in VirtualHost "${server}" set ` +
    `privileged_entities = { ["${component}"] = { roster = "get"; presence = "roster" } } and enable "privilege" globally and on the Component; ` +
    `ejabberd: mod_privilege: {roster: {get: RULE}, presence: {roster: RULE}} with an access rule matching ${component}`
  );
}

/** What an operator has to configure for the server to send the component the users' presences. */
export function presencePermissionHint(server: string, component: string): string {
  return (
    `grant the component the presence privilege: Prosody: in VirtualHost "${server}" set ` +
    `privileged_entities = { ["${component}"] = { roster = "get"; presence = "roster" } } (Prosody drops presence = "roster" without roster = "get"); ` +
    `ejabberd: mod_privilege: {presence: {roster: RULE}} with an access rule matching ${component}`
  );
}
