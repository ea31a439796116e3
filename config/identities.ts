/**
 * Who may sign decisions: the control plane's `identities` (each a person with the OpenPGP public
 * keys they sign with, and keys they no longer use kept as retired so what those signed still
 * verifies) and `groups` of identities that a gate's `approvers` may name as `group:<name>`.
 *
 * Only this config names keys: never a host's target config, never a run's input. The keys are read
 * at the worker's start (activities/lib/identityKeys.ts).
 */
import { z } from 'zod';
import type { GatePolicy } from '../common/types';
import { entries, filePath, section, strings, type CrossCheck } from './sections';

export const GROUP_PREFIX = 'group:';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;

export const identities = (base: string) =>
  entries(
    section('must be an object like {"keys": ["keys/alice.asc"]}', {
      /** Armored public keys this identity signs with now. */
      keys: z.array(filePath(base), { error: 'must be a non-empty array of public key files' }).min(1),
      /** Keys it signed with before: statements they signed still verify; new ones are refused. */
      retiredKeys: z.array(filePath(base), { error: 'must be an array of public key files' }).optional(),
    }),
    'must be an object of identity name to {"keys": [...]}',
  ).check(
    z.superRefine((value, ctx) => {
      for (const name of Object.keys(value))
        if (!NAME.test(name) || name.startsWith(GROUP_PREFIX) || name.startsWith('schedule:'))
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: 'is not a usable identity name (letters, digits, . _ @ -; not group:… or schedule:…)',
          });
    }),
  );

export const groups = entries(
  strings('must be a non-empty array of identity names', { nonBlank: true }),
  'must be an object of group name to identity names',
);

export type IdentitySettings = Record<string, { keys: string[]; retiredKeys?: string[] }>;

/** The identities a gate's approvers name: groups expanded, `*` kept. */
export function expandApprovers(approvers: string[], groupsOf: Record<string, string[]> = {}): string[] {
  const out = new Set<string>();
  for (const a of approvers) {
    if (a.startsWith(GROUP_PREFIX)) for (const m of groupsOf[a.slice(GROUP_PREFIX.length)] ?? []) out.add(m);
    else out.add(a);
  }
  return [...out];
}

/** Checks of the gates and groups against the identities (run across the whole config). */
export function checkIdentityRefs(
  c: {
    identities?: IdentitySettings;
    groups?: Record<string, string[]>;
    targets?: Record<string, { gates?: Record<string, Partial<GatePolicy>> }>;
    policies?: Record<string, { gates?: Record<string, Partial<GatePolicy>> }>;
  },
  at: CrossCheck,
): void {
  const known = new Set(Object.keys(c.identities ?? {}));
  if (at.parsed('groups') && at.parsed('identities'))
    for (const [group, members] of Object.entries(c.groups ?? {}))
      members.forEach((m, n) => {
        if (!known.has(m)) at.report(['groups', group, n], `names '${m}', which is not in identities`);
      });
  for (const kind of ['targets', 'policies'] as const) {
    if (!at.parsed(kind)) continue;
    for (const [targetName, t] of Object.entries(c[kind] ?? {}))
      for (const [gateName, g] of Object.entries(t.gates ?? {}))
        checkGate([kind, targetName, 'gates', gateName], g);
  }
  function checkGate(where: string[], g: Partial<GatePolicy>): void {
    for (const a of g.approvers ?? []) {
      if (a.startsWith(GROUP_PREFIX) && !(a.slice(GROUP_PREFIX.length) in (c.groups ?? {})))
        at.report([...where, 'approvers'], `names ${a}, which is not in groups`);
      else if (g.signed && a !== '*' && !a.startsWith(GROUP_PREFIX) && !known.has(a))
        at.report(
          [...where, 'approvers'],
          `names '${a}', which is not in identities (a signed gate's approvers need keys)`,
        );
    }
    const expanded = expandApprovers(g.approvers ?? [], c.groups);
    if (
      g.quorum &&
      g.approvers?.some((a) => a.startsWith(GROUP_PREFIX)) &&
      !expanded.includes('*') &&
      g.quorum > expanded.length
    )
      at.report(
        [...where, 'quorum'],
        `is ${g.quorum} but only ${expanded.length} approvers are allowed (${expanded.join(', ') || 'none'})`,
      );
    if (g.signed && known.size === 0)
      at.report([...where, 'signed'], 'is true but the config has no identities with keys');
    if (g.notRequester && !g.signed)
      at.report([...where, 'notRequester'], 'needs "signed": true (only a signature proves who approves)');
  }
}
