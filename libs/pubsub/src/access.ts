import type { NodeConfig } from './config';

/**
 * Decides whether a non-owner may read a node whose access model is not `open` (XEP-0060 §4.5:
 * presence, roster, whitelist). The engine asks only for those; the owner and `open` are decided by
 * the engine itself.
 */
export interface AccessPolicy {
  canRead(owner: string, node: string, config: NodeConfig, actor: string): Promise<boolean>;
}

/**
 * Until rosters are available: nobody but the owner reads a presence / roster / whitelist node.
 * (Correct for `whitelist` with no members; stricter than XEP-0163 for `presence` and `roster`.)
 */
export const ownerOnlyAccessPolicy: AccessPolicy = Object.freeze({
  canRead: async () => false,
});
