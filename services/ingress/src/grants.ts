import type { Element } from '@xmpp/xml';

export type GrantKind = 'namespace' | 'bare-disco-info' | 'bare-disco-items';
export interface GrantEntry {
  namespace: string;
  attributes: string[];
  kind: GrantKind;
}

const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

export type GrantMatch = { ok: true; grant: GrantEntry } | { ok: false; reason: string };

/**
 * The delegations the server currently grants to this component (XEP-0355 §"Advertising"), per
 * connection. Prosody advertises its full set at once (replace); ejabberd one namespace per message (add).
 */
export class GrantTable {
  private readonly byNamespace = new Map<string, GrantEntry>();
  private bareDiscoInfo: GrantEntry | null = null;
  private bareDiscoItems: GrantEntry | null = null;

  apply(grants: GrantEntry[], replace: boolean): void {
    if (replace) this.clear();
    for (const g of grants) {
      if (g.kind === 'bare-disco-info') this.bareDiscoInfo = g;
      else if (g.kind === 'bare-disco-items') this.bareDiscoItems = g;
      else this.byNamespace.set(g.namespace, g);
    }
  }

  clear(): void {
    this.byNamespace.clear();
    this.bareDiscoInfo = null;
    this.bareDiscoItems = null;
  }

  list(): GrantEntry[] {
    return [...this.byNamespace.values(), ...(this.bareDiscoInfo ? [this.bareDiscoInfo] : []), ...(this.bareDiscoItems ? [this.bareDiscoItems] : [])];
  }

  has(namespace: string): boolean {
    return this.byNamespace.has(namespace);
  }

  /** Whether a forwarded request falls inside a grant: namespace granted and every filtering attribute present. */
  match(payload: Element, payloadNs: string, targetIsBareUserJid: boolean): GrantMatch {
    const direct = this.byNamespace.get(payloadNs);
    if (direct) {
      const missing = direct.attributes.filter((a) => payload.attrs[a] === undefined);
      if (missing.length) return { ok: false, reason: `filtering attribute(s) ${missing.join(', ')} missing for ${payloadNs}` };
      return { ok: true, grant: direct };
    }
    if (targetIsBareUserJid && payloadNs === DISCO_INFO && this.bareDiscoInfo) return { ok: true, grant: this.bareDiscoInfo };
    if (targetIsBareUserJid && payloadNs === DISCO_ITEMS && this.bareDiscoItems) return { ok: true, grant: this.bareDiscoItems };
    return { ok: false, reason: `namespace ${payloadNs} is not delegated to this component` };
  }
}
