import { PROJECTIONS, type ProjectionName } from '@dbroker/store';

export const REBUILD_USAGE = `usage: npm run db:rebuild [-- --only ${PROJECTIONS.join(',')}]`;

/** Parses `db:rebuild` arguments (`--only a,b` or `--only=a,b`). Pure; throws with the usage on bad input. */
export function parseRebuildArgs(argv: readonly string[]): { only: ProjectionName[] | undefined } {
  let only: ProjectionName[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let value: string | undefined;
    if (arg === '--only') value = argv[++i];
    else if (arg.startsWith('--only=')) value = arg.slice('--only='.length);
    else throw new Error(`unknown argument ${arg}\n${REBUILD_USAGE}`);
    const names = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const bad = names.filter((n) => !(PROJECTIONS as readonly string[]).includes(n));
    if (names.length === 0 || bad.length > 0) throw new Error(`--only takes ${PROJECTIONS.join(', ')}${bad.length ? `, not ${bad.join(', ')}` : ''}\n${REBUILD_USAGE}`);
    only = [...new Set([...(only ?? []), ...(names as ProjectionName[])])];
  }
  return { only };
}
