/**
 * Archive UIDs (XEP-0313 §"IDs", §4.2 `<result id/>`): the `seq` of the node event, in decimal. Stable
 * (an event never changes its seq), unique within the archive and never reused (a bigserial), and a
 * cursor by itself: `after`/`before`/`after-id`/`before-id`/`ids` turn straight into `seq` bounds of the
 * `(node_id, seq)` index. Clients treat it as opaque. It is predictable (XEP-0313 §3 wants UIDs
 * "unpredictable"): it reveals how many events the whole service logged, not their content; every use
 * of an id is checked against the requested node, so guessing one gives no access.
 */

/** Largest seq that survives a round trip through a JavaScript number. */
const MAX_SEQ = Number.MAX_SAFE_INTEGER;
const DECIMAL = /^[1-9][0-9]{0,15}$/;

export function archiveIdOf(seq: number): string {
  return String(seq);
}

/** The seq an archive id names, or undefined when the text cannot be one of ours (then it is not in the archive). */
export function seqOfArchiveId(id: string): number | undefined {
  if (!DECIMAL.test(id)) return undefined;
  const n = Number(id);
  return n <= MAX_SEQ ? n : undefined;
}
