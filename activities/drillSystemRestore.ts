/**
 * The fullSystemRestore drill (procedure 004, Restore 1 and the Post-Recovery Checklist, in a
 * sandbox): the disaster stops the sandbox's services with the drill's own `stop` command and loses
 * the sandbox's root; fullSystemRestore brings back the backup pinned when the sandbox was made
 * (stop → restore, verified → integrity → start → health → recovery proof); the checks are the
 * restore scenarios' (drillRestoreChecks.ts: the root holds the backup's files, as its manifest
 * recorded them) and the services': stopped before the restore, started after it, healthy now, with
 * an intact recovery proof.
 *
 * The drill's `stop` and `start` commands (never the target's, which act on production) must act on
 * the sandbox; the health endpoint is the target's (it is only read), as for the panic drills.
 */
import * as fsp from 'node:fs/promises';
import type { DrillCheck } from '../common/drill';
import type { TargetConfig } from '../config';
import { isWithin } from '../config/sections';
import type { RecoveryReport } from './drillChecks';
import type { DisasterReport } from './drillDisaster';
import { restoreChecks } from './drillRestoreChecks';
import { errorText } from './errors';
import type { Catalog } from './lib/catalog';
import { runCheckedCommand } from './lib/commands';
import { exists, hashFile } from './lib/files';
import { check, fieldOf, type ScenarioChecks } from './lib/sandboxChecks';

/** probeHealth (activities/healthProbe.ts) bound to the worker's config. */
export type ProbeHealth = (targetName: string) => Promise<{ url: string; status: number }>;

/**
 * The disaster, in the sandbox (`target` is the derived target): the drill's `stop` command stops
 * the sandbox's services (where there is one), then the whole root is lost. A retry does the same.
 */
export async function stopServicesAndLoseRoot(target: TargetConfig): Promise<string[]> {
  const actions: string[] = [];
  const stop = target.commands.stop;
  if (stop) {
    await runCheckedCommand("the drill's 'stop' command", stop);
    actions.push(`stopped the sandbox's services with the drill's 'stop' command (${stop.argv.join(' ')})`);
  } else actions.push("the drill has no 'stop' command: no services to stop");
  const root = target.root!;
  await fsp.rm(root, { recursive: true, force: true });
  actions.push(`lost the whole root ${root} (deleted)`);
  return actions;
}

/**
 * The sandbox after fullSystemRestore: the restore checks of the pinned backup (the recovery proof,
 * written into the root after the restore, is no unlisted file), then the services and the health.
 */
export async function systemRestoreChecks(
  backups: () => Catalog,
  target: TargetConfig,
  sandbox: string,
  input: { disaster: DisasterReport; recovery: RecoveryReport; backupId?: string },
  probeHealth: ProbeHealth,
): Promise<ScenarioChecks> {
  const result = input.recovery.result;
  const proof = fieldOf<{ path: string; sha256: string }>(result, 'proof');
  const writtenAfter = proof && isWithin(proof.path, target.root!) ? [proof.path] : [];
  const restored = await restoreChecks(backups, target, sandbox, input.backupId, input.disaster, {
    writtenAfter,
  });
  const childChecks = fieldOf<{ name: string; ok: boolean }[]>(result, 'checks') ?? [];
  // A recovery that did not complete reported no checklist: nothing shows what it did to the services.
  const unreported = `the recovery ended ${input.recovery.state} without its checklist`;
  const at = (name: string) => childChecks.findIndex((c) => c.name === name && c.ok);
  const restoredId = fieldOf<string>(result, 'backupId');
  const stopped = at('servicesStopped') >= 0;
  const started = at('servicesStarted') > at('restoredFiles') && at('restoredFiles') >= 0;
  let health: DrillCheck;
  try {
    const probe = await probeHealth(target.name);
    health = check('healthy', true, `${probe.url} answered HTTP ${probe.status}`);
  } catch (err) {
    health = check('healthy', false, errorText(err));
  }
  const proofOk =
    !!proof && (await exists(proof.path)) && (await hashFile(proof.path)).sha256 === proof.sha256;
  const checks = [
    check(
      'restoredPinnedBackup',
      !!restoredId && restoredId === input.backupId,
      restoredId === input.backupId
        ? `fullSystemRestore restored backup ${restoredId}, the newest when the sandbox was made`
        : `fullSystemRestore restored ${restoredId ?? 'no backup'}, not ${input.backupId ?? '(none pinned)'}`,
    ),
    ...restored.checks,
    check(
      'servicesStopped',
      stopped,
      stopped
        ? "the drill's 'stop' command stopped the sandbox's services before the restore"
        : childChecks.length
          ? 'the services were not stopped before the restore'
          : `${unreported}: nothing shows the services were stopped before the restore`,
    ),
    check(
      'servicesRunning',
      started,
      started
        ? "the drill's 'start' command started the sandbox's services again on the restored root"
        : childChecks.length
          ? 'the services were not started again after the restore'
          : `${unreported}: nothing shows the services were started again on the restored root`,
    ),
    health,
    check(
      'recoveryProofWritten',
      proofOk,
      proofOk ? `${proof!.path} (sha256 ${proof!.sha256.slice(0, 16)}…)` : 'no intact recovery proof',
    ),
  ];
  return { ...restored, checks };
}
