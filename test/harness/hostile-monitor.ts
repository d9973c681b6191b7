// Resident memory and liveness of named processes, from /proc (Linux), sampled while a test runs.
import { readFileSync } from 'node:fs';

/** VmRSS of one process in KiB, or undefined when it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export interface ProcessSample {
  name: string;
  pid: number;
  /** The first reading (the baseline before the load). */
  firstKiB: number;
  peakKiB: number;
  lastKiB: number;
  samples: number;
  /** The first sample at which the process was gone (ms since start), if ever. */
  goneAtMs?: number;
}

/** Samples VmRSS of each process every `intervalMs` until stopped; keeps the peak. */
export function sampleRss(processes: Record<string, number>, intervalMs = 200): { stop(): ProcessSample[]; snapshot(): ProcessSample[] } {
  const t0 = Date.now();
  const stats = Object.entries(processes).map(([name, pid]): ProcessSample => ({ name, pid, firstKiB: 0, peakKiB: 0, lastKiB: 0, samples: 0 }));
  const tick = () => {
    for (const s of stats) {
      const kib = rssKiB(s.pid);
      if (kib === undefined || !isAlive(s.pid)) {
        s.goneAtMs ??= Date.now() - t0;
        continue;
      }
      if (s.samples++ === 0) s.firstKiB = kib;
      s.lastKiB = kib;
      s.peakKiB = Math.max(s.peakKiB, kib);
    }
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    snapshot: () => stats.map((s) => ({ ...s })),
    stop() {
      clearInterval(timer);
      tick();
      return stats.map((s) => ({ ...s }));
    },
  };
}
