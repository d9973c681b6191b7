/**
 * XEP-0082 §3.3 DateTime: `CCYY-MM-DDThh:mm:ss[.sss]TZD`, TZD `Z` or `±hh:mm`. The archive keeps
 * millisecond instants, so a finer fraction is rounded the way that keeps a filter exact: a `start`
 * bound up (`ceil`: an entry at .123 is not at or after .1234) and an `end` bound down (`floor`).
 */

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

export type FractionRounding = 'floor' | 'ceil';

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeap(year) ? 1 : 0);
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** The instant a XEP-0082 DateTime denotes, or undefined when `text` is not one. */
export function parseDateTime(text: string, rounding: FractionRounding = 'floor'): Date | undefined {
  const m = DATETIME.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac = '', z, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  // no leap second (60): JavaScript, Postgres and the archive's clocks have none
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (!z) {
    const ohN = Number(oh);
    const omN = Number(om);
    if (ohN > 23 || omN > 59) return undefined;
    offsetMinutes = (sign === '-' ? -1 : 1) * (ohN * 60 + omN);
  }
  let ms = Number(frac.slice(0, 3).padEnd(3, '0'));
  if (rounding === 'ceil' && /[1-9]/.test(frac.slice(3))) ms += 1;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 onto 1900-1999
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  const t = date.getTime() - offsetMinutes * 60_000;
  return Number.isFinite(t) ? new Date(t) : undefined;
}

/** XEP-0082 DateTime in UTC with milliseconds (`2010-07-10T23:08:25.123Z`), as `<delay stamp/>` wants. */
export function formatDateTime(date: Date): string {
  return date.toISOString();
}
