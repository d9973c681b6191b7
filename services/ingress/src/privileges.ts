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
