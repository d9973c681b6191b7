import { ownerOnlyAccessPolicy, type AccessPolicy } from './access';
import type { AccessModel, NodeConfig } from './config';
import { isSameAccount } from './jid';

/**
 * Who may read a node: the one decision every read path shares (XEP-0060 §6.5 item retrieval, XEP-0313 /
 * XEP-0442 MAM on a node, ...). The owner always; anyone on an `open` node; on `presence` / `roster` /
 * `whitelist` nodes whoever the injected `AccessPolicy` admits. Each caller maps a refusal onto its own
 * protocol error: the PEP translator to the XEP-0060 §6.5.9 conditions below, MAM to `forbidden`.
 */

/** Why a non-owner was refused, per access model (XEP-0060 §6.5.9.4-§6.5.9.6 application conditions). */
export const READ_DENIALS = Object.freeze({
  presence: 'presence-subscription-required',
  roster: 'not-in-roster-group',
  whitelist: 'closed-node',
} as const satisfies Record<Exclude<AccessModel, 'open'>, string>);

export type ReadDenial = (typeof READ_DENIALS)[keyof typeof READ_DENIALS];

export type NodeReadDecision =
  | { allowed: true; by: 'owner' | 'open-node' | 'access-policy' }
  | { allowed: false; denial: ReadDenial; accessModel: Exclude<AccessModel, 'open'> };

/** What the decision needs of a node (a `StoredNode` fits). */
export interface ReadableNode {
  /** Owner bare JID. */
  service: string;
  node: string;
  config: NodeConfig;
}

/**
 * May `actor` (full or bare JID) read `node`? The access policy is asked only for non-owners of
 * non-open nodes; the default policy admits nobody there.
 */
export async function decideNodeRead(node: ReadableNode, actor: string, policy: AccessPolicy = ownerOnlyAccessPolicy): Promise<NodeReadDecision> {
  if (isSameAccount(actor, node.service)) return { allowed: true, by: 'owner' };
  const model = node.config.access_model;
  if (model === 'open') return { allowed: true, by: 'open-node' };
  if (await policy.canRead(node.service, node.node, node.config, actor)) return { allowed: true, by: 'access-policy' };
  return { allowed: false, denial: READ_DENIALS[model], accessModel: model };
}
