import type { NodeConfig } from '@dbroker/pubsub';

/**
 * What an import source yields, whatever the server it reads: one account's PEP service at a time, every
 * node complete (config, affiliations, subscriptions, items oldest first) or reported as a problem. The
 * importer writes nothing of a node that has a problem, so a node is imported whole or not at all.
 */

export interface ImportItem {
  id: string;
  /** The payload element as a self-contained XML string (what a native publish stores). */
  payload: string;
  /** As the source recorded it (Prosody: bare JID), or null. */
  publisher: string | null;
  /** When it was published (the node log's `at`, what MAM on the node shows). */
  at: Date;
}

export interface ImportAffiliation {
  /** Bare JID. */
  jid: string;
  affiliation: 'member' | 'publisher' | 'outcast';
}

export interface ImportSubscription {
  /** As subscribed: full or bare JID. */
  jid: string;
  /** The source's subscription id, when it had one. */
  subid?: string | undefined;
}

export interface ImportNode {
  name: string;
  /** Only the options the source set; the broker's defaults (= Prosody's PEP defaults) fill the rest. */
  config: Partial<NodeConfig>;
  affiliations: ImportAffiliation[];
  subscriptions: ImportSubscription[];
  /** Publication order, oldest first. */
  items: ImportItem[];
  /** What the source had that the broker does not keep (e.g. `pubsub#title`), for the report. */
  dropped: string[];
}

export interface ImportProblem {
  owner?: string | undefined;
  node?: string | undefined;
  /** The file, row or element at fault. */
  where: string;
  message: string;
}

export interface ImportUser {
  /** The owner's bare JID: the PEP service. */
  owner: string;
  nodes: ImportNode[];
  /** Nodes (or the whole account) left out, and why. */
  problems: ImportProblem[];
}

export interface ImportSource {
  /** A short label for logs and the report (e.g. `prosody:/var/lib/prosody (example.org)`). */
  readonly label: string;
  /** How many accounts `users()` will yield, when known up front (for the progress bar). */
  countUsers(): Promise<number | undefined>;
  /** Each account once, in a stable order (so an interrupted run's prefix is well defined). */
  users(): AsyncIterable<ImportUser>;
}
