/**
 * The twelve measurements in their fixed order (see bench/README.md): full backups, the 1% change,
 * incrementals, then verify and restores. A peer whose backup failed or is not installed gets a row
 * saying so instead of a number.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChangeSummary } from './data';
import { treeBytes } from './measure';
import {
  TAR_CREATE,
  TAR_EXTRACT,
  borgEnv,
  lifeboatStep,
  measureAll,
  notInstalled,
  peerStep,
  resticEnv,
  tarCommand,
  type Context,
  type Op,
  type StepResult,
  type Tool,
} from './steps';

const LABELS = {
  lbFull: 'Lifeboat full backup',
  lbIncr: 'Lifeboat incremental (1% changed)',
  lbVerify: 'Lifeboat verify (full)',
  lbRestore: 'Lifeboat restore (full)',
  resticBackup: 'restic init+backup',
  resticIncr: 'restic backup (1% changed)',
  resticRestore: 'restic restore',
  borgCreate: 'borg create',
  borgIncr: 'borg create (1% changed)',
  borgExtract: 'borg extract',
  tarCreate: 'tar | gzip -1 | gpg',
  tarExtract: 'gpg -d | gzip -d | tar -x',
};

export async function measureEverything(ctx: Context, change: () => ChangeSummary): Promise<ChangeSummary> {
  const { tools, paths } = ctx;
  const total = 12;
  let n = 0;
  const add = async (label: string, fn: () => Promise<StepResult>) => {
    n += 1;
    process.stdout.write(`[${String(n).padStart(2)}/${total}] ${label} ... `);
    const r = await fn();
    r.loadAverageAfter = Number(os.loadavg()[0].toFixed(2));
    ctx.results.push(r);
    const what =
      r.status === 'ok'
        ? `${r.seconds?.toFixed(2)} s${r.check ? `, restored tree ${r.check}` : ''}`
        : r.status === 'failed'
          ? `FAILED: ${r.error}`
          : 'not installed';
    console.log(what);
  };

  // Full backups of the generated data.
  await add(LABELS.lbFull, () => lifeboatStep(ctx, 'backup', 'full', LABELS.lbFull));
  await add(LABELS.resticBackup, () =>
    tools.restic
      ? peerStep(
          ctx,
          'restic',
          'backup',
          LABELS.resticBackup,
          'restic-backup',
          [
            { argv: ['restic', 'init'], env: resticEnv(ctx) },
            {
              argv: ['restic', 'backup', '--host', 'bench', '--tag', 'full', '.'],
              cwd: paths.root,
              env: resticEnv(ctx),
            },
          ],
          paths.resticRepo,
        )
      : Promise.resolve(notInstalled('restic', 'backup', LABELS.resticBackup)),
  );
  await add(LABELS.borgCreate, async () => {
    if (!tools.borg) return notInstalled('borg', 'backup', LABELS.borgCreate);
    const init = await measureAll(ctx, 'borg-init', [
      { argv: ['borg', 'init', '--encryption=repokey'], env: borgEnv(ctx) },
    ]);
    if (init.error)
      return {
        tool: 'borg',
        op: 'backup',
        label: LABELS.borgCreate,
        status: 'failed',
        error: `borg init: ${init.error}`,
      };
    const r = await peerStep(
      ctx,
      'borg',
      'backup',
      LABELS.borgCreate,
      'borg-create',
      [{ argv: ['borg', 'create', '::full', '.'], cwd: paths.root, env: borgEnv(ctx) }],
      paths.borgRepo,
    );
    // The repository's size includes what init wrote (a few KiB).
    if (r.archiveBytes !== undefined) r.archiveBytes = treeBytes(paths.borgRepo);
    r.details = { initSeconds: init.seconds };
    return r;
  });
  await add(LABELS.tarCreate, () => {
    if (!tools.gpg || !tools.tar)
      return Promise.resolve(notInstalled('tar+gzip+gpg', 'backup', LABELS.tarCreate));
    fs.mkdirSync(paths.tarDir, { recursive: true });
    fs.mkdirSync(path.join(paths.home, 'gnupg'), { recursive: true, mode: 0o700 });
    return peerStep(
      ctx,
      'tar+gzip+gpg',
      'backup',
      LABELS.tarCreate,
      'tar-create',
      [tarCommand(ctx, TAR_CREATE, 'tar-create')],
      paths.tarDir,
    );
  });

  // Change 1% of the files; incrementals.
  const changed = change();
  await add(LABELS.lbIncr, () => lifeboatStep(ctx, 'incremental', 'incremental', LABELS.lbIncr));
  await add(LABELS.resticIncr, () =>
    tools.restic && ok(ctx, 'restic', 'backup')
      ? peerStep(
          ctx,
          'restic',
          'incremental',
          LABELS.resticIncr,
          'restic-incr',
          [
            {
              argv: ['restic', 'backup', '--host', 'bench', '--tag', 'incr', '.'],
              cwd: paths.root,
              env: resticEnv(ctx),
            },
          ],
          paths.resticRepo,
        )
      : Promise.resolve(unavailable(ctx, 'restic', 'incremental', LABELS.resticIncr)),
  );
  await add(LABELS.borgIncr, () =>
    tools.borg && ok(ctx, 'borg', 'backup')
      ? peerStep(
          ctx,
          'borg',
          'incremental',
          LABELS.borgIncr,
          'borg-incr',
          [{ argv: ['borg', 'create', '::incr', '.'], cwd: paths.root, env: borgEnv(ctx) }],
          paths.borgRepo,
        )
      : Promise.resolve(unavailable(ctx, 'borg', 'incremental', LABELS.borgIncr)),
  );

  // Verify and restore the full backups; each restored tree is compared with the original data.
  await add(LABELS.lbVerify, () => lifeboatStep(ctx, 'verify', 'verify', LABELS.lbVerify));
  await add(LABELS.lbRestore, () => lifeboatStep(ctx, 'restore', 'restore', LABELS.lbRestore));
  await add(LABELS.resticRestore, () =>
    tools.restic && ok(ctx, 'restic', 'backup')
      ? peerStep(
          ctx,
          'restic',
          'restore',
          LABELS.resticRestore,
          'restic-restore',
          [
            {
              argv: [
                'restic',
                'restore',
                'latest',
                '--host',
                'bench',
                '--tag',
                'full',
                '--target',
                paths.restoreDir,
              ],
              env: resticEnv(ctx),
            },
          ],
          paths.resticRepo,
          resticRestored(ctx),
        )
      : Promise.resolve(unavailable(ctx, 'restic', 'restore', LABELS.resticRestore)),
  );
  await add(LABELS.borgExtract, () =>
    tools.borg && ok(ctx, 'borg', 'backup')
      ? peerStep(
          ctx,
          'borg',
          'restore',
          LABELS.borgExtract,
          'borg-extract',
          [{ argv: ['borg', 'extract', '::full'], cwd: paths.restoreDir, env: borgEnv(ctx) }],
          paths.borgRepo,
          paths.restoreDir,
        )
      : Promise.resolve(unavailable(ctx, 'borg', 'restore', LABELS.borgExtract)),
  );
  await add(LABELS.tarExtract, () =>
    tools.gpg && tools.tar && ok(ctx, 'tar+gzip+gpg', 'backup')
      ? peerStep(
          ctx,
          'tar+gzip+gpg',
          'restore',
          LABELS.tarExtract,
          'tar-extract',
          [tarCommand(ctx, TAR_EXTRACT, 'tar-extract')],
          paths.tarDir,
          paths.restoreDir,
        )
      : Promise.resolve(unavailable(ctx, 'tar+gzip+gpg', 'restore', LABELS.tarExtract)),
  );
  return changed;
}

/**
 * Where restic put the restored tree: `restic backup .` (from inside the root) stores the files at
 * the snapshot's top, but some versions keep the absolute path of the folder backed up.
 */
function resticRestored(ctx: Context): () => string {
  return () => {
    const nested = path.join(ctx.paths.restoreDir, ctx.paths.root);
    return fs.existsSync(nested) ? nested : ctx.paths.restoreDir;
  };
}

function ok(ctx: Context, tool: Tool, op: Op): boolean {
  return ctx.results.some((r) => r.tool === tool && r.op === op && r.status === 'ok');
}

function unavailable(ctx: Context, tool: Tool, op: Op, label: string): StepResult {
  if (ctx.results.some((r) => r.tool === tool && r.status === 'not installed'))
    return notInstalled(tool, op, label);
  return { tool, op, label, status: 'failed', error: 'skipped: the backup it needs failed' };
}
