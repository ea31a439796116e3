/**
 * The `targets` section: each target a runbook may act on, by name, with its store, approval gates,
 * backup, recovery and drill settings, and the checks that span them.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { SELF_TARGET } from '../common/constants';
import type { GatePolicy } from '../common/types';
import { backupSettings, checkFolders } from './backup';
import { checkDrillApart, drill } from './drill';
import { recoverySettings } from './recovery';
import {
  crossCheck,
  entries,
  filePath,
  int,
  isObject,
  positive,
  section,
  strings,
  type CrossCheck,
} from './sections';

const store = (base: string) =>
  section('must be an object with "primary" and "backups" paths', {
    /** The primary file; its checksum sidecar is `<primary>.meta`. */
    primary: filePath(base),
    /** Folder of timestamped backups `<stem>_YYYYMMDD_HHMMSS.<ext>` with `<stem>_YYYYMMDD_HHMMSS.meta`. */
    backups: filePath(base),
    quarantine: filePath(base).optional(),
  })
    .check(
      crossCheck<{ primary: string }>((s, at) => {
        if (at.parsed('primary') && at.parsed('backups') && !path.extname(s.primary))
          at.report(['primary'], 'must have an extension (backups are named <stem>_YYYYMMDD_HHMMSS<ext>)');
      }),
    )
    .transform((s) => ({
      ...s,
      /** Where corrupt files are kept (never deleted); default `<primary folder>/quarantine`. */
      quarantine: s.quarantine ?? path.join(path.dirname(s.primary), 'quarantine'),
    }));
export type StoreSettings = z.output<ReturnType<typeof store>>;

export const gate: z.ZodType<Partial<GatePolicy>> = section(
  'must be an object like {"approvers": ["alice"], "quorum": 1}',
  {
    approvers: strings('must be a non-empty array of names (or ["*"] for anyone)', { nonBlank: true })
      .transform((names) => names.map((a) => a.trim()))
      .optional(),
    quorum: int(1).optional(),
    timeoutSeconds: positive('must be a positive number of seconds').optional(),
    onTimeout: z.enum(['stop', 'proceed'], { error: 'must be "stop" or "proceed"' }).optional(),
    automatic: z.boolean({ error: 'must be true or false' }).optional(),
    /** Approvals must be signed by an approver's key (config/identities.ts). */
    signed: z.boolean({ error: 'must be true or false' }).optional(),
    /** The identity that started the run (a signed start) may not approve it. */
    notRequester: z.boolean({ error: 'must be true or false' }).optional(),
  },
).check(
  crossCheck<Partial<GatePolicy>>(({ approvers, quorum }, at) => {
    if (!approvers || !quorum || !at.parsed('approvers') || !at.parsed('quorum')) return;
    // Groups are counted by checkIdentityRefs, which sees the whole config.
    if (approvers.some((a) => a.startsWith('group:'))) return;
    if (!approvers.includes('*') && quorum > approvers.length)
      at.report(['quorum'], `is ${quorum} but only ${approvers.length} approvers are allowed`);
  }),
);

const target = (base: string) =>
  section('must be an object', {
    description: z.string({ error: 'must be a string' }).optional(),
    store: store(base).optional(),
    gates: entries(gate, 'must be an object of gate name to policy').default({}),
    ...backupSettings(base),
    ...recoverySettings(base),
    /** Where and how drills of this target run (drDrill). */
    drill: drill(base).optional(),
    /** Whether `stop` must be signed too (default false: stopping is the safe action). */
    signedStop: z.boolean({ error: 'must be true or false' }).optional(),
    /** Labels a fleet run selects targets by (`{"role": "db", "site": "eu"}`); they belong to the target. */
    labels: entries(
      z.string({ error: 'must be a string' }).regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}$/, {
        error: 'must be a label value: letters, digits, . _ : / - (at most 63)',
      }),
      'must be an object of label name to value',
    ).optional(),
  }).check(crossCheck(checkTarget));

type Parts = Parameters<typeof checkFolders>[0] & {
  driverStore?: { rescan?: string };
  commands?: Record<string, unknown>;
  drill?: { directory: string };
};

/** The checks that span sections: folders, the rescan command, the drill directory. */
function checkTarget(t: Parts, at: CrossCheck): void {
  checkFolders(t, at);
  if (isObject(t.driverStore) && t.driverStore.rescan !== undefined) {
    // A command counts when its settings parsed (a bad name is a problem of its own).
    const have = Object.entries(isObject(t.commands) ? t.commands : {})
      .filter(
        ([c, v]) =>
          isObject(v) && at.parsed('commands', c, 'argv') && at.parsed('commands', c, 'timeoutSeconds'),
      )
      .map(([c]) => c);
    if (!have.includes(t.driverStore.rescan))
      at.report(
        ['driverStore', 'rescan'],
        `must name a command of this target's "commands" (have: ${have.join(', ') || 'none'})`,
      );
  }
  if (isObject(t.drill) && at.parsed('drill', 'directory'))
    checkDrillApart(t.drill.directory, parsedPart(t, at) as TargetConfig, at);
}

/** The settings of `t` that parsed, down to those of a section with a problem elsewhere in it. */
function parsedPart(t: object, at: CrossCheck): Record<string, unknown> {
  const part: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(t)) {
    if (at.parsed(key)) part[key] = value;
    else if (isObject(value))
      part[key] = Object.fromEntries(Object.entries(value).filter(([k]) => at.parsed(key, k)));
  }
  return part;
}

export type TargetConfig = { name: string } & z.output<ReturnType<typeof target>> & {
    /**
     * Instead of a root: the files a backup captures, by the path they take in the archive (the
     * built-in target `lifeboat-self`, whose files are Lifeboat's own stores). Never restored by the
     * `restore` runbook: `lifeboat self restore` does that, before the control plane starts.
     */
    sources?: Record<string, string>;
    /**
     * Set only on a drill's derived target (`<target>@drill-<drillId>`, see activities/targets.ts):
     * the target whose backups the catalog lists for it, and the sandbox its paths were rebased into.
     */
    catalogName?: string;
    sandbox?: string;
    /** Set only on a host-loss drill's derived target: the sandbox's own catalog, empty at first. */
    ownCatalog?: string;
  };

/** Targets by name; `lifeboat-self` is made from the top-level `selfBackup` section, never here. */
export const targets = (base: string) =>
  z
    .record(
      z.string().refine((name) => name !== SELF_TARGET, {
        error: `: the name is reserved for Lifeboat's own stores; configure their backups in the top-level "selfBackup" section`,
      }),
      target(base),
      { error: 'must be an object with at least one target, e.g. {"demo": {"store": {...}}}' },
    )
    .check(
      crossCheck<Record<string, unknown>>((all, at) => {
        for (const name of Object.keys(all))
          if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
            at.report([name], ": a target name may hold letters, digits, '.', '_' and '-' (at most 64)");
      }),
    )
    .transform((all) =>
      Object.fromEntries(
        Object.entries(all).map(([name, t]): [string, TargetConfig] => [name, { name, ...t }]),
      ),
    );
