import type { DelegationVersion, PrivilegeVersion } from '@dbroker/protocol';

export interface StreamProtocols {
  delegation: DelegationVersion | null;
  privilege: PrivilegeVersion | null;
}

export type Schedule = (fn: () => void, ms: number) => () => void;

const defaultSchedule: Schedule = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
};

export interface StreamProtocolsOptions {
  /** How long after the first advertisement (or a change) the versions are reported. */
  debounceMs: number;
  report: (p: StreamProtocols) => void;
  schedule?: Schedule;
}

/**
 * The protocol versions the server speaks on the current component stream, reported once per stream
 * (issue 5 item 2). Prosody sends one privilege and one delegation advertisement right after the
 * handshake; ejabberd one grant message per namespace and kind (duplicates included) after its disco
 * round trips. So the first advertisement of a stream starts a window of `debounceMs` (not sliding) at the
 * end of which both versions are reported together; after that, a version that changes (or appears, from
 * null) within the stream opens a new window. The same versions are never reported twice in a stream.
 * `reset()` (link down) reports what is still waiting, then forgets the stream.
 */
export function createStreamProtocols(opts: StreamProtocolsOptions) {
  const schedule = opts.schedule ?? defaultSchedule;
  let current: StreamProtocols = { delegation: null, privilege: null };
  let reported: StreamProtocols | null = null;
  let cancel: (() => void) | null = null;

  const fire = () => {
    cancel = null;
    if (reported && reported.delegation === current.delegation && reported.privilege === current.privilege) return;
    reported = { ...current };
    opts.report({ ...current });
  };

  const observe = (next: StreamProtocols) => {
    current = next;
    if (cancel) return;
    if (reported && reported.delegation === current.delegation && reported.privilege === current.privilege) return;
    cancel = schedule(fire, opts.debounceMs);
  };

  return {
    delegation(version: DelegationVersion): void {
      observe({ ...current, delegation: version });
    },
    privilege(version: PrivilegeVersion): void {
      observe({ ...current, privilege: version });
    },
    /** The stream ended: report a pending change now, then start from nothing. */
    reset(): void {
      if (cancel) {
        cancel();
        fire();
      }
      current = { delegation: null, privilege: null };
      reported = null;
    },
    current: (): StreamProtocols => ({ ...current }),
  };
}
