/**
 * importScope — procedure 003 §12 ("imports follow restore protocol") with §7: the export is verified
 * completely (sidecar and signature, every checksum, database integrity, manifest and scope), engine
 * version and module set compared → the plan at gate `import` → lock → unpack beside the root → the
 * project's or module's folder swapped in by rename, the one it replaces kept → verify → rebuild
 * caches → unlock. A stop at any point puts the root back as it was.
 */
import type { RunbookMeta } from '../common/runbook';
import { runRunbook } from '../workflows/engine';
import { BREAK_LOCK_GATE, lockFlow, LONG, releaseLock, runTag, takeLock } from './backupSteps';

export const meta: RunbookMeta = {
  name: 'importScope',
  title: 'Import a project or module export',
  summary:
    "Imports an export made by exportScope from an export destination named in the target's config into the live root, following the restore protocol: verifies the export completely and compares its engine version and module set with the target's, shows what it adds and replaces at gate import, then under the target's lock unpacks it beside the root and swaps the project's or module's folder in by rename, keeping the one it replaces; verifies, rebuilds caches. A stop puts everything back.",
  source: '003_8b72c7da6d2bed8c.txt — §12 export/import relation, §7 restore protocol, §15 STOP conditions',
  objectives: { rtoMinutes: 60 },
  input: {
    from: {
      type: 'string',
      required: true,
      description: "the export destination that holds the export: a name in the target's exports setting",
    },
    exportId: {
      type: 'string',
      required: true,
      description: 'the export to import (its file name without .lbk, as exportScope returned it)',
    },
  },
  gates: {
    import: {
      description: "before the project's or module's folder in the live root is replaced (or added)",
      defaults: { approvers: ['*'], quorum: 1 },
    },
    breakLock: BREAK_LOCK_GATE,
  },
  requires: ['root', 'repository', 'encryption'],
  // The destination and the export are checked against the config and the destination folder.
  checksInput: true,
  stops: [
    'the export has no sidecar, a signature that is not good and trusted, a checksum mismatch, a missing or unusable manifest, or a database that fails its integrity check',
    'engine version or module set differs from the target (expected vs found)',
    'the export changed after it was approved',
    'the imported folder does not match the export (stop puts the previous one back)',
    'the target is locked',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['inspectExport'] },
    {
      id: 'inspectExport',
      label:
        'verify the export completely; compare engine version and module set; compare it with the live folder: files replaced, added, removed',
      next: [{ to: 'end:invalidInput', when: 'unknown destination or export, or a backup' }, 'gate:import'],
    },
    { id: 'gate:import', label: 'approve the import', next: ['acquireLock'] },
    ...lockFlow('stageImport'),
    {
      id: 'stageImport',
      label: 'unpack the export into a staging folder beside the root',
      next: ['swapIn'],
    },
    {
      id: 'swapIn',
      label: "swap the project's or module's folder in by rename, keeping the one it replaces",
      next: ['verifyImport'],
    },
    { id: 'verifyImport', label: 'verify the imported folder against the export', next: ['rebuildCaches'] },
    { id: 'rebuildCaches', label: 'run the rebuildCaches command (if configured)', next: ['releaseLock'] },
    { id: 'releaseLock', label: "release the target's lock", next: ['end:completed'] },
    { id: 'end:completed', label: 'imported' },
    { id: 'end:invalidInput', label: 'fails at once: bad input' },
  ],
};

export interface ImportScopeInput {
  target: string;
  from: string;
  exportId: string;
}

export async function importScope(input: ImportScopeInput) {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const found = await run.step(
      'inspectExport',
      'inspectExport',
      [target, input.from, input.exportId],
      LONG,
    );
    run.acceptInput();
    const { plan, ...exported } = found;
    run.fact('export', exported);
    run.fact('plan', plan);
    await run.gate(
      'import',
      `import ${found.scope} '${found.id}' from export ${found.exportId} of target '${found.from}', taken ${found.createdAt}`,
      plan,
    );

    await takeLock(run, 'importScope');
    const tag = runTag();
    const staged = await run.step(
      'stageImport',
      'stageImport',
      [target, input.from, input.exportId, tag, found.archiveSha256],
      { ...LONG, compensation: { name: 'removeStaging', activity: 'removeStaging', args: [target, tag] } },
    );
    const swapped = await run.step('swapIn', 'swapInSubset', [target, tag, [staged.path]], {
      compensation: { name: 'putPreviousBack', activity: 'undoSubsetSwap', args: [target, tag] },
    });
    run.fact('previous', swapped.previous);
    await run.step(
      'verifyImport',
      'verifyImport',
      [target, staged.path, { files: staged.files, treeSha256: staged.treeSha256 }],
      LONG,
    );
    await run.step('rebuildCaches', 'runTargetCommand', [target, 'rebuildCaches'], {
      startToCloseTimeout: '1 hour',
    });
    await releaseLock(run);
    return {
      ...exported,
      root: swapped.root,
      path: staged.path,
      replaced: swapped.replaced.length > 0,
      // What the import replaced, kept beside the root (absent when the root had no such folder).
      previous: swapped.replaced.length ? joined(swapped.previous, staged.path) : undefined,
    };
  });
}

/** `dir/rel` with forward slashes (workflow code has no path module). */
function joined(dir: string, rel: string): string {
  return `${dir}/${rel}`;
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
importScope.meta = meta;
