/**
 * A bounded parser for the Lua *data* that Prosody's file storage writes (util/serialization.lua via
 * util/datamanager.lua): a keyval file is `return <value>;`, an archive file is a sequence of
 * `item(<value>);` records. Only literals are accepted: nil, booleans, numbers, strings, tables with
 * `[key] = value`, `name = value` and positional entries. Nothing is evaluated; anything else (calls other
 * than the record wrapper, operators, variables) is a syntax error. Depth, string and entry counts are
 * bounded, so a hostile file costs at most its size in time and memory.
 */

export type LuaKey = string | number | boolean;
export type LuaValue = null | boolean | number | string | LuaTable;

/** A Lua table: positional entries are the integer keys 1..n. */
export class LuaTable {
  readonly entries = new Map<LuaKey, LuaValue>();
  get(key: LuaKey): LuaValue | undefined {
    return this.entries.get(key);
  }
  /** The sequence part: values at 1, 2, ... up to the first gap. */
  array(): LuaValue[] {
    const out: LuaValue[] = [];
    for (let i = 1; this.entries.has(i); i++) out.push(this.entries.get(i)!);
    return out;
  }
  /** String keys and their values. */
  fields(): Array<[string, LuaValue]> {
    return [...this.entries].filter((e): e is [string, LuaValue] => typeof e[0] === 'string');
  }
}

export interface LuaParseLimits {
  /** Deepest table nesting. */
  maxDepth: number;
  /** Most table entries in the whole input. */
  maxEntries: number;
  /** Longest input, in characters. */
  maxChars: number;
}

export const DEFAULT_LUA_LIMITS: Readonly<LuaParseLimits> = Object.freeze({ maxDepth: 64, maxEntries: 5_000_000, maxChars: 512 * 1024 * 1024 });

export class LuaDataError extends Error {
  override name = 'LuaDataError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at offset ${offset}`);
  }
}

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34, "'": 39, '\n': 10 };

class Parser {
  private pos = 0;
  private entries = 0;
  constructor(
    private readonly src: string,
    private readonly limits: LuaParseLimits,
  ) {
    if (src.length > limits.maxChars) throw new LuaDataError(`input longer than ${limits.maxChars} characters`, 0);
  }

  fail(msg: string): never {
    throw new LuaDataError(msg, this.pos);
  }

  skipSpace(): void {
    const s = this.src;
    for (;;) {
      const c = s.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12) this.pos++;
      else if (c === 45 && s.charCodeAt(this.pos + 1) === 45) {
        // comment: long `--[[ ]]` or to the end of the line
        this.pos += 2;
        const level = this.longBracketLevel();
        if (level >= 0) this.readLongString(level);
        else {
          const nl = s.indexOf('\n', this.pos);
          this.pos = nl === -1 ? s.length : nl + 1;
        }
      } else return;
    }
  }

  atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.src.length;
  }

  expect(ch: string): void {
    this.skipSpace();
    if (this.src[this.pos] !== ch) this.fail(`expected '${ch}'`);
    this.pos++;
  }

  optional(ch: string): boolean {
    this.skipSpace();
    if (this.src[this.pos] === ch) {
      this.pos++;
      return true;
    }
    return false;
  }

  name(): string | undefined {
    this.skipSpace();
    const m = /[A-Za-z_][A-Za-z0-9_]*/y;
    m.lastIndex = this.pos;
    const r = m.exec(this.src);
    if (!r) return undefined;
    this.pos += r[0].length;
    return r[0];
  }

  /** `[` followed by `=`* and `[`: the level; else -1 (position unchanged). */
  longBracketLevel(): number {
    const s = this.src;
    if (s[this.pos] !== '[') return -1;
    let p = this.pos + 1;
    while (s[p] === '=') p++;
    if (s[p] !== '[') return -1;
    const level = p - this.pos - 1;
    this.pos = p + 1;
    return level;
  }

  readLongString(level: number): string {
    const close = `]${'='.repeat(level)}]`;
    const end = this.src.indexOf(close, this.pos);
    if (end === -1) this.fail('unfinished long string');
    let text = this.src.slice(this.pos, end);
    if (text.startsWith('\r\n')) text = text.slice(2);
    else if (text.startsWith('\n')) text = text.slice(1);
    this.pos = end + close.length;
    return text;
  }

  /** A quoted string. Lua strings are bytes: escapes build bytes, decoded as UTF-8 at the end. */
  quoted(): string {
    const s = this.src;
    const quote = s[this.pos++];
    const bytes: number[] = [];
    let chunkStart = this.pos;
    const flush = (upto: number) => {
      if (upto > chunkStart) for (const b of Buffer.from(s.slice(chunkStart, upto), 'utf8')) bytes.push(b);
    };
    for (;;) {
      if (this.pos >= s.length) this.fail('unfinished string');
      const ch = s[this.pos]!;
      if (ch === quote) {
        flush(this.pos);
        this.pos++;
        break;
      }
      if (ch === '\n') this.fail('newline in string');
      if (ch !== '\\') {
        this.pos++;
        continue;
      }
      flush(this.pos);
      const e = s[this.pos + 1];
      if (e === undefined) this.fail('unfinished escape');
      this.pos += 2;
      if (SIMPLE_ESCAPES[e] !== undefined) bytes.push(SIMPLE_ESCAPES[e]!);
      else if (e >= '0' && e <= '9') {
        const m = /[0-9]{1,3}/y;
        m.lastIndex = this.pos - 1;
        const digits = m.exec(s)![0];
        const v = Number(digits);
        if (v > 255) this.fail('decimal escape too large');
        bytes.push(v);
        this.pos += digits.length - 1;
      } else if (e === 'x') {
        const hex = s.slice(this.pos, this.pos + 2);
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) this.fail('bad hexadecimal escape');
        bytes.push(parseInt(hex, 16));
        this.pos += 2;
      } else if (e === 'z') {
        while (/\s/.test(s[this.pos] ?? '')) this.pos++;
      } else if (e === 'u') {
        const m = /\{([0-9A-Fa-f]{1,8})\}/y;
        m.lastIndex = this.pos;
        const r = m.exec(s);
        const cp = r ? parseInt(r[1]!, 16) : NaN;
        if (!r || cp > 0x10ffff) this.fail('bad unicode escape');
        for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) bytes.push(b);
        this.pos += r[0].length;
      } else this.fail(`unknown escape \\${e}`);
      chunkStart = this.pos;
    }
    return Buffer.from(bytes).toString('utf8');
  }

  number(): number {
    const m = /-?(?:0[xX][0-9A-Fa-f]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)/y;
    m.lastIndex = this.pos;
    const r = m.exec(this.src);
    if (!r) this.fail('bad number');
    this.pos += r[0].length;
    const text = r[0];
    const neg = text.startsWith('-');
    const body = neg ? text.slice(1) : text;
    const v = /^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : Number(body);
    if (!Number.isFinite(v)) this.fail('number out of range');
    return neg ? -v : v;
  }

  value(depth: number): LuaValue {
    this.skipSpace();
    const c = this.src[this.pos];
    if (c === undefined) this.fail('unexpected end of input');
    if (c === '"' || c === "'") return this.quoted();
    if (c === '{') return this.table(depth + 1);
    if (c === '[') {
      const level = this.longBracketLevel();
      if (level < 0) this.fail('unexpected [');
      return this.readLongString(level);
    }
    if (c === '-' || c === '.' || (c >= '0' && c <= '9')) return this.number();
    const start = this.pos;
    const word = this.name();
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (word === 'nil') return null;
    this.pos = start;
    this.fail('expected a literal value');
  }

  table(depth: number): LuaTable {
    if (depth > this.limits.maxDepth) this.fail(`tables nested deeper than ${this.limits.maxDepth}`);
    this.expect('{');
    const t = new LuaTable();
    let next = 1;
    for (;;) {
      if (this.optional('}')) return t;
      if (++this.entries > this.limits.maxEntries) this.fail(`more than ${this.limits.maxEntries} table entries`);
      this.skipSpace();
      let key: LuaKey | undefined;
      if (this.src[this.pos] === '[' && this.src[this.pos + 1] !== '[' && this.src[this.pos + 1] !== '=') {
        this.pos++;
        const k = this.value(depth);
        if (k === null || k instanceof LuaTable) this.fail('table key must be a string, number or boolean');
        if (typeof k === 'number' && Number.isNaN(k)) this.fail('NaN key');
        key = k;
        this.expect(']');
        this.expect('=');
      } else {
        const start = this.pos;
        const word = this.name();
        if (word !== undefined && word !== 'true' && word !== 'false' && word !== 'nil' && this.optional('=')) key = word;
        else this.pos = start;
      }
      const v = this.value(depth);
      if (key === undefined) key = next++;
      if (v !== null) t.entries.set(key, v);
      if (!this.optional(',') && !this.optional(';')) {
        this.expect('}');
        return t;
      }
    }
  }
}

/** A keyval file: `return <value>` (a trailing `;` allowed). */
export function parseLuaReturn(src: string, limits: LuaParseLimits = DEFAULT_LUA_LIMITS): LuaValue {
  const p = new Parser(src, limits);
  p.skipSpace();
  if (p.name() !== 'return') p.fail("expected 'return'");
  const v = p.value(0);
  p.optional(';');
  if (!p.atEnd()) p.fail('trailing input');
  return v;
}

/**
 * An archive file: `item(<value>);` records. Returns each record's value, or the error that stopped the
 * parse (records after a syntax error cannot be trusted to start where they seem to).
 */
export function parseLuaRecords(src: string, wrapper = 'item', limits: LuaParseLimits = DEFAULT_LUA_LIMITS): LuaValue[] {
  const p = new Parser(src, limits);
  const out: LuaValue[] = [];
  while (!p.atEnd()) {
    if (p.name() !== wrapper) p.fail(`expected '${wrapper}('`);
    p.expect('(');
    out.push(p.value(0));
    p.expect(')');
    p.optional(';');
  }
  return out;
}
