// Per-process CPU accounting from /proc (Linux): utime + stime of /proc/PID/stat, in seconds.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface ProcStat {
  pid: number;
  comm: string;
  cpuSeconds: number;
}

/** Pure: parses one /proc/PID/stat line (comm may contain spaces and parentheses). */
export function parseProcStat(line: string, hz: number): ProcStat {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  const pid = Number(line.slice(0, open).trim());
  const comm = line.slice(open + 1, close);
  const rest = line.slice(close + 2).split(' '); // rest[0] is field 3 (state)
  const utime = Number(rest[11]); // field 14
  const stime = Number(rest[12]); // field 15
  return { pid, comm, cpuSeconds: (utime + stime) / hz };
}

/** CPU seconds used so far by one process, or undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'), ticksPerSecond()).cpuSeconds;
  } catch {
    return undefined;
  }
}

/** Sum of CPU seconds over all processes whose comm matches (e.g. every postgres backend). */
export function cpuSecondsByComm(match: (comm: string) => boolean): { seconds: number; processes: number } {
  let seconds = 0;
  let processes = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const s = parseProcStat(readFileSync(`/proc/${entry}/stat`, 'utf8'), ticksPerSecond());
      if (!match(s.comm)) continue;
      seconds += s.cpuSeconds;
      processes++;
    } catch {
      // exited meanwhile
    }
  }
  return { seconds, processes };
}
