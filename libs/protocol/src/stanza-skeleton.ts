import type { Element } from '@xmpp/xml';
import { DELEGATION_NS_1, DELEGATION_NS_2, FORWARD_NS } from './delegation';
import { ElementClass } from './xml-util';

/** Attributes kept on skeleton elements: enough to address an answer, nothing else. */
export const SKELETON_ATTRS: ReadonlySet<string> = new Set(['xmlns', 'id', 'from', 'to', 'type', 'node']);
/** Depth of the captured chain: iq / delegation / forwarded / iq / payload / its first child. */
export const SKELETON_DEPTH = 6;

interface Link {
  name: string;
  attrs: Record<string, string>;
}

/**
 * The addressing of a stanza, captured element by element as a parser goes through it (also while it
 * skips an over-limit stanza): the stanza's own attributes and, for a forwarded IQ, the first
 * `<delegation>` (v1 or v2) / `<forwarded>` / `<iq>` path, as `salvageInner` reads it, plus the first two
 * levels of the payload (to tell a publish). Bounded: six elements with at most SKELETON_ATTRS each.
 */
export class StanzaSkeleton {
  private links: Link[] = [];
  /** How many links are still open elements (the chain only grows below an open link). */
  private open = 0;

  reset(): void {
    this.links = [];
    this.open = 0;
  }

  /** An element opened at `depth` (the stanza is depth 1) with the attributes read so far. */
  onOpen(depth: number, name: string, attrs: Readonly<Record<string, string>>): void {
    if (depth > SKELETON_DEPTH || this.links.length !== depth - 1 || this.open !== depth - 1) return;
    const xmlns = attrs.xmlns;
    const fits =
      depth === 1 ||
      (depth === 2 && name === 'delegation' && (xmlns === DELEGATION_NS_2 || xmlns === DELEGATION_NS_1)) ||
      (depth === 3 && name === 'forwarded' && xmlns === FORWARD_NS) ||
      (depth === 4 && name === 'iq') ||
      depth >= 5;
    if (!fits) return;
    const kept: Record<string, string> = {};
    for (const key of SKELETON_ATTRS) {
      const v = attrs[key];
      if (v !== undefined) kept[key] = v;
    }
    this.links.push({ name, attrs: kept });
    this.open = depth;
  }

  /** The element at `depth` closed. */
  onClose(depth: number): void {
    if (this.open >= depth) this.open = depth - 1;
  }

  /** Top-level name and attributes, and the skeleton as ltx elements (a childless `unknown` when nothing was captured). */
  build(): { name: string; attrs: Record<string, string>; stanza: Element } {
    let stanza: Element | undefined;
    let parent: Element | undefined;
    for (const link of this.links) {
      const el = new ElementClass(link.name, { ...link.attrs });
      if (parent) parent.cnode(el);
      else stanza = el;
      parent = el;
    }
    const top = this.links[0];
    return { name: top?.name ?? '', attrs: { ...top?.attrs }, stanza: stanza ?? new ElementClass('unknown') };
  }
}
