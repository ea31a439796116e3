/**
 * One repetition: the steps in their fixed order (see bench/README.md), in fresh repositories: full
 * backups, no-change incrementals, the 1% change, incrementals, verification, restores and
 * Lifeboat's restore with its checks. A peer whose backup failed, is not installed or was left out
 * gets a row saying so instead of a number.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { ChangeSummary } from './data';
import { TAR_CREATE, TAR_EXTRACT, borg, restic, resticRestored, tarCommand } from './peers';
import { treeBytes } from './measure';
import {
  lifeboatStep,
  measureAll,
  peerStep,
  stepResult,
  type Context,
  type Op,
  type StepResult,
  type Tool,
} from './steps';

export const LABELS = {
  lbFull: 'Lifeboat full backup',
  lbNoChange: 'Lifeboat incremental (no change)',
  lbIncr: 'Lifeboat incremental (1% changed)',
  lbVerify: 'Lifeboat verify (full)',
  lbRestore: 'Lifeboat restore (full)',
  lbFullVerified: 'Lifeboat full backup + verification',
  lbRestoreChecked: 'Lifeboat restore incl. checks',
  resticBackup: 'restic init+backup',
  resticNoChange: 'restic backup (no change)',
  resticIncr: 'restic backup (1% changed)',
  resticCheck: 'restic check --read-data',
  resticRestore: 'restic restore + sync',
  borgCreate: 'borg create',
  borgNoChange: 'borg create (no change)',
  borgIncr: 'borg create (1% changed)',
  borgCheck: 'borg check --verify-data',
  borgExtract: 'borg extract + sync',
  tarCreate: 'tar | gzip -1 | gpg',
  tarExtract: 'gpg -d | gzip -d | tar -x + sync',
};

/** Steps per repetition (the Lifeboat full backup gives two rows). */
const STEPS = 18;

export async function measureRep(ctx: Context, change: () => ChangeSummary): Promise<ChangeSummary> {
  const { paths, rep, options } = ctx;
  let n = 0;
  const step = async (label: string, fn: () => Promise<StepResult | StepResult[]>) => {
    n += 1;
    process.stdout.write(`[rep ${rep}/${options.reps} ${String(n).padStart(2)}/${STEPS}] ${label} ... `);
    const out = await fn();
    const rows = Array.isArray(out) ? out : [out];
    const load = Number(os.loadavg()[0].toFixed(2));
    for (const r of rows) ctx.results.push({ ...r, loadAverageAfter: load });
    console.log(
      rows.length > 1 ? rows.map((r) => `${r.label}: ${describe(r)}`).join('; ') : describe(rows[0]),
    );
  };
  const resticOk = (op: Op) => has(ctx, 'restic', op);
  const borgOk = (op: Op) => has(ctx, 'borg', op);
  const tarOk = () => has(ctx, 'tar+gzip+gpg', 'backup');

  // Full backups of the generated data. Lifeboat's reads its backup back, as fullBackup does.
  await step(LABELS.lbFull, () =>
    lifeboatStep(ctx, 'full', [
      { op: 'backup', label: LABELS.lbFull, count: 1 },
      { op: 'backup+verify', label: LABELS.lbFullVerified },
    ]),
  );
  await step(LABELS.resticBackup, () =>
    peer(ctx, 'restic', 'backup', LABELS.resticBackup, true, () =>
      peerStep(
        ctx,
        'restic',
        'backup',
        LABELS.resticBackup,
        'restic-backup',
        [restic(ctx, 'init'), restic(ctx, 'backup', '--host', 'bench', '--tag', 'full', '.')],
        paths.resticRepo,
      ),
    ),
  );
  await step(LABELS.borgCreate, () =>
    peer(ctx, 'borg', 'backup', LABELS.borgCreate, true, async () => {
      const init = await measureAll(ctx, 'borg-init', [
        borg(ctx, paths.repDir, 'init', '--encryption=repokey'),
      ]);
      if (init.error)
        return stepResult(ctx, 'borg', 'backup', LABELS.borgCreate, 'failed', {
          error: `borg init: ${init.error}`,
        });
      const r = await peerStep(
        ctx,
        'borg',
        'backup',
        LABELS.borgCreate,
        'borg-create',
        [borg(ctx, paths.root, 'create', '::full', '.')],
        paths.borgRepo,
      );
      // The repository's size includes what init wrote (a few KiB).
      if (r.archiveBytes !== undefined) r.archiveBytes = treeBytes(paths.borgRepo);
      r.details = { initSeconds: init.seconds };
      return r;
    }),
  );
  await step(LABELS.tarCreate, () =>
    peer(ctx, 'tar+gzip+gpg', 'backup', LABELS.tarCreate, true, () => {
      fs.mkdirSync(paths.tarDir, { recursive: true });
      return peerStep(
        ctx,
        'tar+gzip+gpg',
        'backup',
        LABELS.tarCreate,
        'tar-create',
        [tarCommand(ctx, TAR_CREATE, 'tar-create')],
        paths.tarDir,
      );
    }),
  );

  // Incrementals with nothing changed, then after changing 1% of the files.
  const incrementals = async (op: 'nochange' | 'incremental', labels: string[], tag: string) => {
    await step(labels[0], () => lifeboatStep(ctx, op, [{ op, label: labels[0] }]));
    await step(labels[1], () =>
      peer(ctx, 'restic', op, labels[1], resticOk('backup'), () =>
        peerStep(
          ctx,
          'restic',
          op,
          labels[1],
          `restic-${tag}`,
          [restic(ctx, 'backup', '--host', 'bench', '--tag', tag, '.')],
          paths.resticRepo,
        ),
      ),
    );
    await step(labels[2], () =>
      peer(ctx, 'borg', op, labels[2], borgOk('backup'), () =>
        peerStep(
          ctx,
          'borg',
          op,
          labels[2],
          `borg-${tag}`,
          [borg(ctx, paths.root, 'create', `::${tag}`, '.')],
          paths.borgRepo,
        ),
      ),
    );
  };
  await incrementals('nochange', [LABELS.lbNoChange, LABELS.resticNoChange, LABELS.borgNoChange], 'nochange');
  const changed = change();
  await incrementals('incremental', [LABELS.lbIncr, LABELS.resticIncr, LABELS.borgIncr], 'incr');

  // Verification: Lifeboat's of the full backup; the peers' of their whole repository.
  await step(LABELS.lbVerify, () => lifeboatStep(ctx, 'verify', [{ op: 'verify', label: LABELS.lbVerify }]));
  await step(LABELS.resticCheck, () =>
    peer(ctx, 'restic', 'verify', LABELS.resticCheck, resticOk('backup'), () =>
      peerStep(
        ctx,
        'restic',
        'verify',
        LABELS.resticCheck,
        'restic-check',
        [restic(ctx, 'check', '--read-data')],
        paths.resticRepo,
      ),
    ),
  );
  await step(LABELS.borgCheck, () =>
    peer(ctx, 'borg', 'verify', LABELS.borgCheck, borgOk('backup'), () =>
      peerStep(
        ctx,
        'borg',
        'verify',
        LABELS.borgCheck,
        'borg-check',
        [borg(ctx, paths.repDir, 'check', '--verify-data')],
        paths.borgRepo,
      ),
    ),
  );

  // Restores of the full backups, each compared with the original data.
  await step(LABELS.lbRestore, () =>
    lifeboatStep(ctx, 'restore', [{ op: 'restore', label: LABELS.lbRestore }]),
  );
  await step(LABELS.resticRestore, () =>
    peer(ctx, 'restic', 'restore', LABELS.resticRestore, resticOk('backup'), () =>
      peerStep(
        ctx,
        'restic',
        'restore',
        LABELS.resticRestore,
        'restic-restore',
        [restic(ctx, 'restore', 'latest', '--host', 'bench', '--tag', 'full', '--target', paths.restoreDir)],
        paths.resticRepo,
        resticRestored(ctx),
      ),
    ),
  );
  await step(LABELS.borgExtract, () =>
    peer(ctx, 'borg', 'restore', LABELS.borgExtract, borgOk('backup'), () =>
      peerStep(
        ctx,
        'borg',
        'restore',
        LABELS.borgExtract,
        'borg-extract',
        [borg(ctx, paths.restoreDir, 'extract', '::full')],
        paths.borgRepo,
        () => paths.restoreDir,
      ),
    ),
  );
  await step(LABELS.tarExtract, () =>
    peer(ctx, 'tar+gzip+gpg', 'restore', LABELS.tarExtract, tarOk(), () =>
      peerStep(
        ctx,
        'tar+gzip+gpg',
        'restore',
        LABELS.tarExtract,
        'tar-extract',
        [tarCommand(ctx, TAR_EXTRACT, 'tar-extract')],
        paths.tarDir,
        () => paths.restoreDir,
      ),
    ),
  );
  // What an operator waits for: the restore runbook's activities around stageRestore.
  await step(LABELS.lbRestoreChecked, () =>
    lifeboatStep(ctx, 'restore-checked', [{ op: 'restore+checks', label: LABELS.lbRestoreChecked }]),
  );
  return changed;
}

function describe(r: StepResult): string {
  if (r.status === 'failed') return `FAILED: ${r.error}`;
  if (r.status !== 'ok') return r.status;
  const cpu =
    r.userSeconds !== undefined ? `, CPU ${(r.userSeconds + (r.systemSeconds ?? 0)).toFixed(2)} s` : '';
  const sync =
    r.secondsWithoutSync !== undefined ? ` (${r.secondsWithoutSync.toFixed(2)} s without sync)` : '';
  const check = r.check ? `, restored tree ${r.check}` : '';
  return `${r.seconds?.toFixed(2)} s${sync}${cpu}${check}`;
}

function has(ctx: Context, tool: Tool, op: Op): boolean {
  return ctx.results.some((r) => r.rep === ctx.rep && r.tool === tool && r.op === op && r.status === 'ok');
}

const PEER_OF: Record<Exclude<Tool, 'lifeboat'>, 'restic' | 'borg' | 'tar'> = {
  restic: 'restic',
  borg: 'borg',
  'tar+gzip+gpg': 'tar',
};

/** Runs a peer's step, or says why not: left out with --peers, not installed, or its backup failed. */
async function peer(
  ctx: Context,
  tool: Exclude<Tool, 'lifeboat'>,
  op: Op,
  label: string,
  backupOk: boolean,
  run: () => Promise<StepResult>,
): Promise<StepResult> {
  if (ctx.tools.skipped.includes(PEER_OF[tool])) return stepResult(ctx, tool, op, label, 'skipped');
  const installed =
    tool === 'restic'
      ? !!ctx.tools.restic
      : tool === 'borg'
        ? ctx.tools.borg
        : ctx.tools.gpg && ctx.tools.tar;
  if (!installed) return stepResult(ctx, tool, op, label, 'not installed');
  if (!backupOk)
    return stepResult(ctx, tool, op, label, 'failed', { error: 'skipped: the backup it needs failed' });
  return run();
}
