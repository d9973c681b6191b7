import { ACCESS_MODELS, type NodeConfig } from '@dbroker/pubsub';
import { LuaTable, type LuaValue } from './lua-data';
import type { ImportAffiliation, ImportSubscription } from './model';

/**
 * Prosody 0.12's PEP node record (mod_pep.lua nodestore, util/pubsub.lua save_node_to_store): `{ name,
 * config, subscribers, affiliations }`. `config` holds only what was set; unset keys fall back to mod_pep's
 * node_defaults (max_items 1, persist_items true, access_model presence, send_last_published_item
 * on_sub_and_presence) and then util/pubsub's (publish_model publishers), which are the broker's defaults.
 * Option names are mod_pubsub's form names (pubsub.lib.lua): `include_payload` is pubsub#deliver_payloads.
 * `subscribers` maps a JID to true or to its subscription options; `affiliations` maps a bare JID to a name.
 */

const SEND_LAST = ['never', 'on_sub', 'on_sub_and_presence'] as const;
const AFFILIATIONS = ['member', 'publisher', 'outcast'] as const;
const BOOLEAN_KEYS = { persist_items: 'persist_items', notify_retract: 'notify_retract', notify_delete: 'notify_delete', include_payload: 'deliver_payloads', notify_config: 'notify_config' } as const;

export interface MappedConfig {
  config: Partial<NodeConfig>;
  /** Options kept by Prosody that the broker does not have or cannot honour, as `key=value`. */
  dropped: string[];
}

const show = (v: LuaValue): string => (v instanceof LuaTable ? '{...}' : String(v));

export function mapProsodyConfig(raw: LuaValue | undefined): MappedConfig {
  const config: Partial<NodeConfig> = {};
  const dropped: string[] = [];
  if (raw === undefined || raw === null) return { config, dropped };
  if (!(raw instanceof LuaTable)) throw new TypeError('config is not a table');
  for (const [key, value] of raw.entries) {
    const k = String(key);
    if (k === 'access_model' && typeof value === 'string' && (ACCESS_MODELS as readonly string[]).includes(value)) config.access_model = value as NodeConfig['access_model'];
    else if (k === 'max_items' && value === 'max') config.max_items = 'max';
    else if (k === 'max_items' && typeof value === 'number' && Number.isInteger(value) && value >= 1) config.max_items = value;
    else if (k === 'max_items' && typeof value === 'string' && /^[0-9]{1,9}$/.test(value) && Number(value) >= 1) config.max_items = Number(value);
    else if (k === 'send_last_published_item' && typeof value === 'string' && (SEND_LAST as readonly string[]).includes(value)) config.send_last_published_item = value as NodeConfig['send_last_published_item'];
    else if (k === 'publish_model' && value === 'publishers') config.publish_model = 'publishers';
    else if (k in BOOLEAN_KEYS && typeof value === 'boolean') config[BOOLEAN_KEYS[k as keyof typeof BOOLEAN_KEYS]] = value;
    else if (k === 'roster_groups_allowed' && value instanceof LuaTable) {
      const groups = value.array().filter((g): g is string => typeof g === 'string');
      config.roster_groups_allowed = groups;
    } else dropped.push(`${k}=${show(value)}`);
  }
  return { config, dropped };
}

export function mapProsodyAffiliations(raw: LuaValue | undefined, owner: string): { affiliations: ImportAffiliation[]; dropped: string[] } {
  const affiliations: ImportAffiliation[] = [];
  const dropped: string[] = [];
  if (!(raw instanceof LuaTable)) return { affiliations, dropped };
  for (const [jid, aff] of raw.entries) {
    if (typeof jid !== 'string' || jid.includes('/')) {
      dropped.push(`affiliation of ${String(jid)}`);
      continue;
    }
    // the owner's own affiliation is implicit in the broker; `none` is no affiliation
    if (jid === owner || aff === 'owner' || aff === 'none') continue;
    if (typeof aff === 'string' && (AFFILIATIONS as readonly string[]).includes(aff)) affiliations.push({ jid, affiliation: aff as ImportAffiliation['affiliation'] });
    else dropped.push(`affiliation ${jid}=${show(aff ?? null)}`);
  }
  affiliations.sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0));
  return { affiliations, dropped };
}

export function mapProsodySubscribers(raw: LuaValue | undefined): ImportSubscription[] {
  if (!(raw instanceof LuaTable)) return [];
  const subs: ImportSubscription[] = [];
  for (const [jid, opts] of raw.entries) if (typeof jid === 'string' && opts !== false) subs.push({ jid });
  return subs.sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0));
}
