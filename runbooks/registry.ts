/**
 * The runbooks as the CLI, the docs and the tests see them: every function registered in
 * runbooks/index.ts, by its metadata. Listed by source procedure (the file `NNN_…` their `source`
 * names), then by name, so that the order is the same whichever loader built the module.
 */
import type { RunbookMeta } from '../common/runbook';
import * as registered from './index';

type Registered = ((input: never) => Promise<unknown>) & { meta?: RunbookMeta };

function procedureOf(meta: RunbookMeta): string {
  return /^\d+_/.exec(meta.source)?.[0] ?? meta.source;
}

/** Every registered export that is not a runbook (no `meta`), or whose name is not its meta's. */
export function registryProblems(): string[] {
  return Object.entries(registered as Record<string, Registered>).flatMap(([name, fn]) => {
    if (typeof fn !== 'function' || fn.meta === undefined)
      return [`runbooks/index.ts exports '${name}', which sets no meta (add \`${name}.meta = meta;\`)`];
    if (fn.meta.name !== name)
      return [`runbooks/index.ts exports '${name}' but its meta names '${fn.meta.name}'`];
    return [];
  });
}

export const RUNBOOKS: RunbookMeta[] = Object.values(registered as Record<string, Registered>)
  .flatMap((fn) => (fn.meta ? [fn.meta] : []))
  .sort((a, b) => procedureOf(a).localeCompare(procedureOf(b)) || a.name.localeCompare(b.name));

export function findRunbook(name: string): RunbookMeta | undefined {
  return RUNBOOKS.find((r) => r.name === name);
}
