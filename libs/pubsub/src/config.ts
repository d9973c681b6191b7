/**
 * Node configuration (XEP-0060 §16.4.4, `pubsub#node_config` / `pubsub#publish-options` fields) as the
 * subset PEP (XEP-0163) needs, with the defaults XEP-0163 §4 prescribes.
 */

export const ACCESS_MODELS = ['open', 'presence', 'roster', 'whitelist'] as const;
export type AccessModel = (typeof ACCESS_MODELS)[number];

export const SEND_LAST_PUBLISHED_ITEM = ['never', 'on_sub', 'on_sub_and_presence'] as const;
export type SendLastPublishedItem = (typeof SEND_LAST_PUBLISHED_ITEM)[number];

export const PUBLISH_MODELS = ['publishers'] as const;
export type PublishModel = (typeof PUBLISH_MODELS)[number];

export interface NodeConfig {
  access_model: AccessModel;
  /** How many items the node keeps; `'max'` = the service limit. */
  max_items: number | 'max';
  persist_items: boolean;
  send_last_published_item: SendLastPublishedItem;
  notify_retract: boolean;
  deliver_payloads: boolean;
  /** Only the owner (and `publisher` affiliates) may publish. */
  publish_model: PublishModel;
  /** Roster groups whose members read a `roster` node (XEP-0060 §16.4.4 `pubsub#roster_groups_allowed`). */
  roster_groups_allowed: string[];
  /** Whether node deletion (and purge) is notified. */
  notify_delete: boolean;
  /** Whether configuration changes are notified. */
  notify_config: boolean;
}

export type NodeConfigKey = keyof NodeConfig;

export const DEFAULT_NODE_CONFIG: Readonly<NodeConfig> = Object.freeze({
  access_model: 'presence',
  max_items: 1,
  persist_items: true,
  send_last_published_item: 'on_sub_and_presence',
  notify_retract: true,
  deliver_payloads: true,
  publish_model: 'publishers',
  roster_groups_allowed: Object.freeze([]) as unknown as string[],
  notify_delete: true,
  notify_config: false,
});

/** Upper bound of `max_items` (and what `'max'` means) unless the engine is configured otherwise. */
export const DEFAULT_MAX_ITEMS_PER_NODE = 1000;

/** Data form field name (`pubsub#...`) of each config key. */
export const CONFIG_FIELD_NAMES: Readonly<Record<NodeConfigKey, string>> = Object.freeze({
  access_model: 'pubsub#access_model',
  max_items: 'pubsub#max_items',
  persist_items: 'pubsub#persist_items',
  send_last_published_item: 'pubsub#send_last_published_item',
  notify_retract: 'pubsub#notify_retract',
  deliver_payloads: 'pubsub#deliver_payloads',
  publish_model: 'pubsub#publish_model',
  roster_groups_allowed: 'pubsub#roster_groups_allowed',
  notify_delete: 'pubsub#notify_delete',
  notify_config: 'pubsub#notify_config',
});

const KEY_BY_FIELD: ReadonlyMap<string, NodeConfigKey> = new Map(
  (Object.entries(CONFIG_FIELD_NAMES) as Array<[NodeConfigKey, string]>).map(([k, f]) => [f, k]),
);

/** Bounds of `roster_groups_allowed` (the config is a JSON column read on every access decision). */
export const MAX_ROSTER_GROUPS = 64;
export const MAX_ROSTER_GROUP_CHARS = 1024;

export type ConfigError = { error: 'bad-request' | 'precondition-not-met'; text: string };
export type ConfigParse = { ok: true; value: Partial<NodeConfig> } | ({ ok: false } & ConfigError);

function parseBoolean(value: string): boolean | undefined {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return undefined;
}

function oneOf<T extends string>(values: readonly T[], value: string): T | undefined {
  return (values as readonly string[]).includes(value) ? (value as T) : undefined;
}

/**
 * Turns data form fields into a partial config. A field we do not know, or a value XEP-0060 defines but
 * we do not implement (e.g. access model `authorize`), is a precondition the service cannot meet
 * (`precondition-not-met`); a malformed value is `bad-request`. `FORM_TYPE` is skipped (checked by the caller).
 */
export function configFromFields(fields: ReadonlyArray<{ name: string; values: readonly string[] }>): ConfigParse {
  const out: Partial<NodeConfig> = {};
  for (const { name, values } of fields) {
    if (name === 'FORM_TYPE') continue;
    const key = KEY_BY_FIELD.get(name);
    if (!key) return { ok: false, error: 'precondition-not-met', text: `unsupported option ${name}` };
    if (key === 'roster_groups_allowed') {
      const groups = [...new Set(values.map((v) => v.trim()).filter((v) => v !== ''))];
      if (groups.some((g) => g.length > MAX_ROSTER_GROUP_CHARS) || groups.length > MAX_ROSTER_GROUPS) return { ok: false, error: 'bad-request', text: `invalid value for ${name}` };
      out.roster_groups_allowed = groups;
      continue;
    }
    if (values.length !== 1) return { ok: false, error: 'bad-request', text: `${name} needs exactly one value` };
    const raw = (values[0] ?? '').trim();
    const bad = (): ConfigParse => ({ ok: false, error: 'bad-request', text: `invalid value for ${name}` });
    const unsupported = (): ConfigParse => ({ ok: false, error: 'precondition-not-met', text: `unsupported value for ${name}` });
    switch (key) {
      case 'access_model': {
        const v = oneOf(ACCESS_MODELS, raw);
        if (!v) return raw === 'authorize' ? unsupported() : bad();
        out.access_model = v;
        break;
      }
      case 'max_items': {
        if (raw === 'max') out.max_items = 'max';
        else if (/^[0-9]{1,9}$/.test(raw)) out.max_items = Number(raw);
        else return bad();
        break;
      }
      case 'send_last_published_item': {
        const v = oneOf(SEND_LAST_PUBLISHED_ITEM, raw);
        if (!v) return bad();
        out.send_last_published_item = v;
        break;
      }
      case 'publish_model': {
        const v = oneOf(PUBLISH_MODELS, raw);
        if (!v) return raw === 'subscribers' || raw === 'open' ? unsupported() : bad();
        out.publish_model = v;
        break;
      }
      case 'persist_items':
      case 'notify_retract':
      case 'deliver_payloads':
      case 'notify_delete':
      case 'notify_config': {
        const v = parseBoolean(raw);
        if (v === undefined) return bad();
        out[key] = v;
        break;
      }
    }
  }
  return { ok: true, value: out };
}

/** Checks values a caller built directly (not from a form). Returns the problem, or undefined. */
export function validateConfig(config: Partial<NodeConfig>, maxItemsPerNode: number): ConfigError | undefined {
  const mi = config.max_items;
  if (mi !== undefined && mi !== 'max') {
    if (!Number.isInteger(mi) || mi < 1) return { error: 'bad-request', text: 'pubsub#max_items must be a positive integer or max' };
    if (mi > maxItemsPerNode) return { error: 'precondition-not-met', text: `pubsub#max_items is limited to ${maxItemsPerNode}` };
  }
  const groups = config.roster_groups_allowed;
  if (groups !== undefined && (!Array.isArray(groups) || groups.length > MAX_ROSTER_GROUPS || groups.some((g) => typeof g !== 'string' || g.length > MAX_ROSTER_GROUP_CHARS))) {
    return { error: 'bad-request', text: 'invalid pubsub#roster_groups_allowed' };
  }
  return undefined;
}

/** Fills missing or invalid keys of a stored config with defaults (rows written by older versions). */
export function normaliseConfig(raw: unknown): NodeConfig {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const d = DEFAULT_NODE_CONFIG;
  const bool = (v: unknown, dflt: boolean) => (typeof v === 'boolean' ? v : dflt);
  const mi = r.max_items;
  return {
    access_model: oneOf(ACCESS_MODELS, String(r.access_model)) ?? d.access_model,
    max_items: mi === 'max' || (typeof mi === 'number' && Number.isInteger(mi) && mi >= 1) ? mi : d.max_items,
    persist_items: bool(r.persist_items, d.persist_items),
    send_last_published_item: oneOf(SEND_LAST_PUBLISHED_ITEM, String(r.send_last_published_item)) ?? d.send_last_published_item,
    notify_retract: bool(r.notify_retract, d.notify_retract),
    deliver_payloads: bool(r.deliver_payloads, d.deliver_payloads),
    publish_model: oneOf(PUBLISH_MODELS, String(r.publish_model)) ?? d.publish_model,
    roster_groups_allowed: Array.isArray(r.roster_groups_allowed) ? r.roster_groups_allowed.filter((g): g is string => typeof g === 'string') : [],
    notify_delete: bool(r.notify_delete, d.notify_delete),
    notify_config: bool(r.notify_config, d.notify_config),
  };
}

/** The number of items a node keeps. */
export function effectiveMaxItems(config: NodeConfig, maxItemsPerNode: number): number {
  return config.max_items === 'max' ? maxItemsPerNode : Math.min(config.max_items, maxItemsPerNode);
}

/**
 * XEP-0060 §7.1.5: publish-options are preconditions on an existing node. Returns the first option the
 * node's config does not satisfy, or undefined. `max_items` `'max'` matches the service limit.
 */
export function unmetPrecondition(config: NodeConfig, options: Partial<NodeConfig>, maxItemsPerNode: number): NodeConfigKey | undefined {
  for (const key of Object.keys(options) as NodeConfigKey[]) {
    const wanted = options[key];
    if (wanted === undefined) continue;
    if (key === 'max_items') {
      if (effectiveMaxItems(config, maxItemsPerNode) !== effectiveMaxItems({ ...config, max_items: wanted as NodeConfig['max_items'] }, maxItemsPerNode)) return key;
    } else if (key === 'roster_groups_allowed') {
      const have = new Set(config.roster_groups_allowed);
      const want = new Set(wanted as string[]);
      if (have.size !== want.size || [...want].some((g) => !have.has(g))) return key;
    } else if (config[key] !== wanted) return key;
  }
  return undefined;
}

/** A fresh config: defaults, then `partial` (undefined keys ignored). */
export function buildConfig(partial: Partial<NodeConfig> = {}, base: Readonly<NodeConfig> = DEFAULT_NODE_CONFIG): NodeConfig {
  const out: NodeConfig = { ...base, roster_groups_allowed: [...base.roster_groups_allowed] };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = Array.isArray(v) ? [...v] : v;
  return out;
}

/** Allowed values of the list-single fields (the form's options). */
export const CONFIG_FIELD_OPTIONS: Readonly<Partial<Record<NodeConfigKey, readonly string[]>>> = Object.freeze({
  access_model: ACCESS_MODELS,
  send_last_published_item: SEND_LAST_PUBLISHED_ITEM,
  publish_model: PUBLISH_MODELS,
});

export type DataFormFieldType = 'boolean' | 'list-single' | 'list-multi' | 'text-single' | 'hidden';

/** Data form field type of each config key (XEP-0004). */
export const CONFIG_FIELD_TYPES: Readonly<Record<NodeConfigKey, DataFormFieldType>> = Object.freeze({
  access_model: 'list-single',
  max_items: 'text-single',
  persist_items: 'boolean',
  send_last_published_item: 'list-single',
  notify_retract: 'boolean',
  deliver_payloads: 'boolean',
  publish_model: 'list-single',
  roster_groups_allowed: 'list-multi',
  notify_delete: 'boolean',
  notify_config: 'boolean',
});

/** A config as data form fields (values as XEP-0004 strings), in `CONFIG_FIELD_NAMES` order. */
export function configToFields(config: NodeConfig): Array<{ key: NodeConfigKey; name: string; type: DataFormFieldType; values: string[]; options?: readonly string[] }> {
  return (Object.keys(CONFIG_FIELD_NAMES) as NodeConfigKey[]).map((key) => {
    const v = config[key];
    const values = Array.isArray(v) ? [...v] : typeof v === 'boolean' ? [v ? '1' : '0'] : [String(v)];
    const options = CONFIG_FIELD_OPTIONS[key];
    return { key, name: CONFIG_FIELD_NAMES[key], type: CONFIG_FIELD_TYPES[key], values, ...(options ? { options } : {}) };
  });
}
