import { CONFIG_OPTION, SERVER_OPTIONS, type Command } from '../command';
import { load } from '../lazy';
import { describeWaiting } from '../format';
import { badInput, queryStatus, startRunbook } from '../runs';

export const command: Command = {
  name: 'backups verify',
  summary: 'verify a backup, or all of a target, through the verifyBackup runbook; waits for the verdict',
  usage: '(<backupId> | --all --target <name>) [--recheck-databases] [--config <file>]',
  examples: [
    'lifeboat backups verify storage-20261121T101500Z-4f2a9c01d2e3-full',
    'lifeboat backups verify --all --target storage',
  ],
  options: {
    all: { type: 'boolean', description: 'verify every backup of --target' },
    target: { type: 'string', value: 'name', description: 'the target (with --all)' },
    'recheck-databases': {
      type: 'boolean',
      description:
        'run integrity_check on every database again (by default a database the last verification found sound in the same bytes keeps that result)',
    },
    ...CONFIG_OPTION,
    ...SERVER_OPTIONS,
  },
  positionals: ['backupId?'],
  server: true,
  async run(ctx) {
    const all = ctx.values.all === true;
    const backupId = ctx.positionals[0];
    if (all === (backupId !== undefined))
      throw badInput('give a backup id or --all --target <name>, not both or neither');
    let target = ctx.values.target as string | undefined;
    if (all && !target) throw badInput('--all needs --target <name>');
    if (!all) {
      const { openRecords } = load.localConfig();
      const { records, close } = await openRecords(
        { config: ctx.values.config as string | undefined },
        'no backup has been made yet?',
      );
      try {
        const entry = await records.getBackup(backupId);
        if (!entry) throw badInput(`no backup '${backupId}' in the catalog ${records.where}`);
        target = entry.target;
      } finally {
        await close();
      }
    }
    const client = await ctx.connect();
    const handle = await startRunbook(client, {
      runbook: 'verifyBackup',
      input: {
        target: target!,
        backupId: all ? 'all' : backupId,
        ...(ctx.values['recheck-databases'] === true ? { recheckDatabases: true } : {}),
      },
      taskQueue: ctx.taskQueue,
    });
    ctx.err(`lifeboat: verifying in ${handle.workflowId}`);
    for (;;) {
      const status = await queryStatus(client, handle).catch(() => undefined);
      if (status?.state === 'completed') {
        const result = status.result as {
          reports: {
            backupId: string;
            files: number;
            databases: { path: string; integrity: string; reused?: boolean }[];
          }[];
        };
        for (const r of result.reports) {
          const reused = r.databases.filter((d) => d.reused).length;
          ctx.out(
            `ok  ${r.backupId}: ${r.files} files, ${r.databases.length} databases pass integrity_check${reused ? ` (${reused} checked by an earlier verification in the same bytes)` : ''}`,
          );
        }
        return 0;
      }
      if (status?.state === 'waiting' || status?.state === 'failed') {
        ctx.err(`lifeboat: verification FAILED`);
        describeWaiting(status).forEach((l) => ctx.err(l));
        if (status.error) ctx.err(status.error);
        ctx.err(`the run ${handle.workflowId} waits for a decision (retry after fixing, or stop)`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  },
};
