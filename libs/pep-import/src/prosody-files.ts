import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LuaDataError, LuaTable, parseLuaRecords, parseLuaReturn, type LuaParseLimits, DEFAULT_LUA_LIMITS } from './lua-data';
import type { ImportItem, ImportNode, ImportProblem, ImportSource, ImportUser } from './model';
import { mapProsodyAffiliations, mapProsodyConfig, mapProsodySubscribers } from './prosody-config';
import { preserializedToXml, StanzaShapeError } from './prosody-stanza';

/**
 * Prosody 0.12 internal (file) storage, as util/datamanager.lua lays it out:
 * `<data_path>/<enc(host)>/<store_enc(store)>/<enc(user)>.dat` (keyval) and `.list` (archive), where enc
 * turns every byte that is not an ASCII letter or digit into `%xx` (lower-case hex) and store_enc does
 * the same but keeps `_`. mod_pep keeps, per user, the keyval store `pep` (node name -> node record) and
 * one archive store `pep_<node>` per node: records `item({ <preserialized payload>, key = <item id>,
 * when = <unix seconds>, with = <publisher> })`, oldest first (a re-published id is moved to the end).
 */

export const encodeDm = (s: string): string => Buffer.from(s, 'utf8').reduce((out, b) => out + (isAlnum(b) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`), '');
export const encodeStore = (s: string): string => Buffer.from(s, 'utf8').reduce((out, b) => out + (isAlnum(b) || b === 0x5f ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`), '');
export function decodeDm(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else for (const b of Buffer.from(s[i]!, 'utf8')) bytes.push(b);
  }
  return Buffer.from(bytes).toString('utf8');
}
function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

export interface ProsodyFilesOptions {
  dataPath: string;
  host: string;
  /** Largest file read, in bytes (a larger one is reported, not read). Default 256 MiB. */
  maxFileBytes?: number | undefined;
  limits?: LuaParseLimits | undefined;
}

export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;

class SkipNode extends Error {}

export function createProsodyFileSource(opts: ProsodyFilesOptions): ImportSource {
  const hostDir = join(opts.dataPath, encodeDm(opts.host));
  const pepDir = join(hostDir, 'pep');
  const maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const limits = opts.limits ?? DEFAULT_LUA_LIMITS;

  async function userFiles(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(pepDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names.filter((n) => n.endsWith('.dat')).sort();
  }

  /** The file's text, or undefined when it does not exist. */
  async function readBounded(path: string): Promise<string | undefined> {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (size > maxFileBytes) throw new SkipNode(`${path}: ${size} bytes, more than the ${maxFileBytes} allowed`);
    return await readFile(path, 'utf8');
  }

  async function readItems(userEnc: string, owner: string, node: string): Promise<ImportItem[]> {
    const path = join(hostDir, encodeStore(`pep_${node}`), `${userEnc}.list`);
    const text = await readBounded(path);
    if (text === undefined) return [];
    let records;
    try {
      records = parseLuaRecords(text, 'item', limits);
    } catch (err) {
      if (err instanceof LuaDataError) throw new SkipNode(`${path}: ${err.message}`);
      throw err;
    }
    // the archive keeps one record per key (a re-publish replaces it), oldest first; keep the last if not
    const byId = new Map<string, ImportItem>();
    records.forEach((r, i) => {
      if (!(r instanceof LuaTable)) throw new SkipNode(`${path}: record ${i + 1} is not a table`);
      const key = r.get('key');
      const when = r.get('when');
      const withJid = r.get('with');
      if (typeof key !== 'string' || key === '') throw new SkipNode(`${path}: record ${i + 1} has no item id`);
      let at: Date;
      if (typeof when === 'number') at = new Date(Math.round(when * 1000));
      else {
        const stamp = (r.get('attr') as LuaTable | undefined)?.get?.('stamp');
        at = new Date(typeof stamp === 'string' ? stamp : NaN);
      }
      if (Number.isNaN(at.getTime())) throw new SkipNode(`${path}: record ${i + 1} (${key}) has no valid time`);
      let payload: string;
      try {
        payload = preserializedToXml(r);
      } catch (err) {
        if (err instanceof StanzaShapeError) throw new SkipNode(`${path}: record ${i + 1} (${key}): ${err.message}`);
        throw err;
      }
      byId.delete(key);
      byId.set(key, { id: key, payload, publisher: typeof withJid === 'string' && withJid !== '' ? withJid : owner, at });
    });
    return [...byId.values()];
  }

  async function readUser(file: string): Promise<ImportUser> {
    const userEnc = file.slice(0, -'.dat'.length);
    const owner = `${decodeDm(userEnc)}@${opts.host}`;
    const problems: ImportProblem[] = [];
    const nodes: ImportNode[] = [];
    const path = join(pepDir, file);
    let records: LuaTable;
    try {
      const text = await readBounded(path);
      const parsed = text === undefined ? null : parseLuaReturn(text, limits);
      if (parsed === null) return { owner, nodes, problems };
      if (!(parsed instanceof LuaTable)) throw new SkipNode(`${path}: not a table`);
      records = parsed;
    } catch (err) {
      if (err instanceof SkipNode || err instanceof LuaDataError) {
        problems.push({ owner, where: path, message: err.message });
        return { owner, nodes, problems };
      }
      throw err;
    }
    const names = [...records.entries.keys()].filter((k): k is string => typeof k === 'string').sort();
    for (const name of names) {
      const rec = records.get(name);
      try {
        // COMPAT (mod_pep nodestore): old data stored only `true` for a node with default config
        const table = rec instanceof LuaTable ? rec : rec === true ? new LuaTable() : undefined;
        if (!table) throw new SkipNode(`${path}: node record is not a table`);
        const { config, dropped } = mapProsodyConfig(table.get('config'));
        const aff = mapProsodyAffiliations(table.get('affiliations'), owner);
        const subscriptions = mapProsodySubscribers(table.get('subscribers'));
        const items = await readItems(userEnc, owner, name);
        nodes.push({ name, config, affiliations: aff.affiliations, subscriptions, items, dropped: [...dropped, ...aff.dropped] });
      } catch (err) {
        if (err instanceof SkipNode || err instanceof TypeError) problems.push({ owner, node: name, where: path, message: err.message });
        else throw err;
      }
    }
    return { owner, nodes, problems };
  }

  return {
    label: `prosody:${opts.dataPath} (${opts.host})`,
    async countUsers() {
      return (await userFiles()).length;
    },
    async *users() {
      for (const file of await userFiles()) yield await readUser(file);
    },
  };
}
