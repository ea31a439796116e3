/**
 * exportScope — procedure 003 §3.3 (project-level export), §3.4 (module-level export), §12 ("exports =
 * scoped mini-backups"): one project or one module of the root, written like a backup (lock, quiesce,
 * Online Backup API snapshots, SHA-256 of every file, a manifest saying it is an export and of what,
 * OpenPGP, atomic write, signed sidecar) into an export destination named in the target's config, then
 * read back and verified. `importScope` brings it into a root.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { INVALID_INPUT } from '../common/errors';
import type { RunbookMeta } from '../common/runbook';
import { runRunbook } from '../workflows/engine';
import { BREAK_LOCK_GATE, lockFlow, LONG, releaseLock, runTag, takeLock } from './backupSteps';

export const meta: RunbookMeta = {
  name: 'exportScope',
  title: 'Export one project or module',
  summary:
    "Exports one project (projects/<id>: its databases, tiles, assets and templates) or one module (modules/<id>: its data, settings and module.db) as a self-contained archive encrypted and signed like a backup, into an export destination named in the target's config: under the target's lock, databases snapshotted with the Online Backup API, every file's SHA-256 in a manifest that names the scope, the engine version and the module set, written atomically, then read back and verified.",
  source: '003_8b72c7da6d2bed8c.txt — §3.3 project-level export, §3.4 module-level export, §4, §5, §12',
  input: {
    project: {
      type: 'string',
      description:
        'the project to export (its folder name under projects/ in the root); give project or module',
    },
    module: {
      type: 'string',
      description:
        'the module to export (its folder name under modules/ in the root); give project or module',
    },
    to: {
      type: 'string',
      required: true,
      description: "the export destination: a name in the target's exports setting (never a path)",
    },
  },
  gates: { breakLock: BREAK_LOCK_GATE },
  requires: ['root', 'repository', 'encryption'],
  // The project or module and the destination are checked against the root and the config.
  checksInput: true,
  stops: [
    'the target is locked by another run, or by a dead one (approve breakLock)',
    'the project or module holds a symbolic link or special file (named)',
    'not enough disk space in the destination (figures given)',
    'the quiesce or resume command fails',
    'the export does not verify when read back',
  ],
  flow: [
    {
      id: 'resolveTarget',
      label: 'find the target in the worker config',
      next: [{ to: 'end:invalidInput', when: 'not exactly one of project and module' }, 'planExport'],
    },
    {
      id: 'planExport',
      label: 'find the project or module in the root and the destination in the config',
      next: [{ to: 'end:invalidInput', when: 'unknown project, module or destination' }, 'acquireLock'],
    },
    ...lockFlow('quiesce'),
    { id: 'quiesce', label: 'run the quiesce command (if configured)', next: ['writeExport'] },
    {
      id: 'writeExport',
      label: 'snapshot databases, hash, archive, encrypt, write atomically with a signed sidecar',
      next: [
        { to: 'resume', when: 'quiesced' },
        { to: 'releaseLock', when: 'no quiesce command' },
      ],
    },
    { id: 'resume', label: 'run the resume command', next: ['releaseLock'] },
    { id: 'releaseLock', label: "release the target's lock", next: ['verifyExport'] },
    { id: 'verifyExport', label: 'read the export back and verify it', next: ['end:completed'] },
    { id: 'end:completed', label: 'exported and verified' },
    { id: 'end:invalidInput', label: 'fails at once: bad input' },
  ],
};

export interface ExportScopeInput {
  target: string;
  project?: string;
  module?: string;
  to: string;
}

export async function exportScope(input: ExportScopeInput) {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    if ((input.project === undefined) === (input.module === undefined))
      throw ApplicationFailure.nonRetryable(
        'input: give exactly one of project and module (the one project or module to export)',
        INVALID_INPUT,
      );
    const request = { project: input.project, module: input.module, to: input.to };
    const plan = await run.step('planExport', 'planExport', [target, request]);
    run.acceptInput();
    run.fact('scope', { scope: plan.scope, id: plan.id, path: plan.path, destination: plan.destination });
    // A drill's target name holds '@': an export id is also a file name.
    const exportId = `${target}-${runTag()}-${plan.scope}-${plan.id}`
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .slice(0, 128);
    run.fact('exportId', exportId);

    await takeLock(run, 'exportScope');
    const quiesce = await run.step('quiesce', 'runTargetCommand', [target, 'quiesce'], {
      startToCloseTimeout: '15 minutes',
      compensation: { name: 'resume', activity: 'runTargetCommand', args: [target, 'resume'] },
    });
    const summary = await run.step(
      'writeExport',
      'writeExport',
      [target, { ...request, exportId, createdBy: workflowInfo().workflowId }],
      LONG,
    );
    run.fact('archive', summary.archive);
    if (!('skipped' in quiesce))
      await run.step('resume', 'runTargetCommand', [target, 'resume'], { startToCloseTimeout: '15 minutes' });
    run.dropCompensation('resume');
    await releaseLock(run);
    const verified = await run.step('verifyExport', 'verifyExport', [target, input.to, exportId], LONG);
    return { ...summary, verified: true, databasesChecked: verified.databases };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
exportScope.meta = meta;
