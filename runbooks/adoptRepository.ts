/**
 * adoptRepository — DESIGN §4, §5 (the catalog is a cache of the repositories): on a host whose
 * catalog lacks a target's backups (a new host after the old one was lost), rebuild its entries from
 * the repository or the offsite copy, reporting each backup adopted or refused with the reason.
 */
import type { AdoptReport } from '../common/adopt';
import type { RunbookMeta } from '../common/runbook';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';
import { LONG } from './backupSteps';

export const meta: RunbookMeta = {
  name: 'adoptRepository',
  title: "Rebuild a target's catalog entries from its repository",
  summary:
    "Reads every sidecar in the target's repository (or its offsite copy), checks its signature against the trusted signing keys, holds each archive to its sidecar (size, SHA-256, manifest) and reads it through, rebuilds the incremental chains, and records what verifies in the catalog. Idempotent; never writes into a repository.",
  source:
    '003_8b72c7da6d2bed8c.txt — §1 any host, §8 offsite replication; 000_be3e8dfd50981456.txt — §3.2 restore after an OS reinstall',
  input: {
    from: {
      type: 'string',
      enum: ['repository', 'offsite'],
      description:
        'read only this copy (default: the repository, and the offsite copy for any backup missing or refused there)',
    },
  },
  gates: {},
  requires: ['repository', 'encryption'],
  stops: [
    'neither the repository nor its offsite copy can be read (missing, not a folder, no permission)',
    'the configured key cannot decrypt an archive (wrong private key or passphrase)',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['adoptRepository'] },
    {
      id: 'adoptRepository',
      label: 'check every sidecar, signature and archive; rebuild the chains; record what verifies',
      next: ['end:completed'],
    },
    { id: 'end:completed', label: 'each backup adopted, already present, or refused with the reason' },
  ],
};

export async function adoptRepository(input: { target: string; from?: 'repository' | 'offsite' }) {
  return runRunbook(meta, input, async (run) => {
    const report = await run.step(
      'adoptRepository',
      'adoptRepository',
      [run.target.name, input.from ? { from: input.from } : {}],
      LONG,
    );
    return report as AdoptReport;
  }) as Promise<RunOutcome<AdoptReport>>;
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
adoptRepository.meta = meta;
