import { decideAccess, needsRoster, ownerOnlyAccessPolicy, type AccessPolicy, type ReadableNode } from './access';
import type { AccessModel } from './config';
import { accountJid, sameBareJid } from '@dbroker/protocol';

export type { ReadableNode } from './access';

/**
 * Who may read a node: the one decision every read path shares (XEP-0060 §6.5 item retrieval and
 * subscription, disco of PEP nodes, XEP-0313 / XEP-0442 MAM on a node, ...). The owner always; outcasts
 * never; the affiliated (member, publisher) always; others per access model with the facts the injected
 * `AccessPolicy` provides. Each caller maps a refusal onto its own protocol error: the PEP translator to
 * the XEP-0060 §6.5.9 conditions below, MAM to `forbidden`, disco to `item-not-found`.
 */

/** Why a non-owner was refused: per access model (XEP-0060 §6.5.9.4-§6.5.9.6), or as an outcast. */
export const READ_DENIALS = Object.freeze({
  presence: 'presence-subscription-required',
  roster: 'not-in-roster-group',
  whitelist: 'closed-node',
  outcast: 'forbidden',
} as const satisfies Record<Exclude<AccessModel, 'open'> | 'outcast', string>);

export type ReadDenial = (typeof READ_DENIALS)[keyof typeof READ_DENIALS];

export type NodeReadDecision =
  | { allowed: true; by: 'owner' | 'open-node' | 'affiliation' | 'access-policy' }
  | { allowed: false; denial: ReadDenial; accessModel: AccessModel };

/**
 * May `actor` (full or bare JID) read `node`? For non-owners the policy is asked for the affiliation,
 * and for the roster entry only on `presence` / `roster` nodes.
 */
export async function decideNodeRead(node: ReadableNode, actor: string, policy: AccessPolicy = ownerOnlyAccessPolicy): Promise<NodeReadDecision> {
  if (sameBareJid(actor, node.service)) return { allowed: true, by: 'owner' };
  const actorBare = accountJid(actor);
  const affiliation = await policy.affiliation(node, actorBare);
  const rosterEntry = needsRoster(node.config, affiliation) ? await policy.rosterEntry(node.service, actorBare) : undefined;
  const verdict = decideAccess(node.config, { affiliation, rosterEntry });
  const model = node.config.access_model;
  if (verdict.allowed) return { allowed: true, by: verdict.by === 'roster' ? 'access-policy' : verdict.by };
  return { allowed: false, denial: READ_DENIALS[verdict.reason], accessModel: model };
}
