/**
 * driverUpdate — procedure 000 §2.2–2.3 and §3.1: free space → restore point → the device's current
 * driver exported to a validated pre-update backup → gate `install` → install the package → check
 * the device; if it reports a problem, roll back from the pre-update backup at once and check again.
 * A stop after the install puts the pre-update driver back.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { RunbookMeta } from '../common/runbook';
import { runTagOf } from '../common/tags';
import type { RunOutcome } from '../common/types';
import type { RestorePointResult } from '../activities/drivers';
import { runRunbook } from '../workflows/engine';
import { STORE_CALL, rollBackAndVerify } from './driverSteps';

export const meta: RunbookMeta = {
  name: 'driverUpdate',
  title: 'Update a device driver with a pre-update backup',
  summary:
    "Checks free space, makes a restore point, exports the device's current driver to a validated pre-update backup, waits for approval, installs the update package and checks the device; a device that then reports a problem is rolled back from the pre-update backup automatically.",
  source:
    '000_be3e8dfd50981456.txt — §2.2 pre-operation backups, §2.3 backup validation, §3.1 failed driver update',
  objectives: { rtoMinutes: 2 },
  input: {
    device: {
      type: 'string',
      required: true,
      description: 'device instance id, e.g. PCI\\VEN_8086&DEV_15BC&SUBSYS_08B21028&REV_10\\3&11583659&0&FE',
    },
    package: {
      type: 'string',
      required: true,
      description: "name of a driver package folder in the target's driverStore.updates",
    },
  },
  gates: {
    install: {
      description: 'before the update package is installed on the device',
      defaults: { approvers: ['*'], quorum: 1 },
    },
  },
  requires: ['driverStore'],
  // The device id and the package are checked against the driver store before `start` returns.
  checksInput: true,
  stops: [
    'less free space in the backups folder than driverStore.minFreeBytes (the figures are shown)',
    'the restore point cannot be made (System Protection off): a responder may skip it',
    'the device has no third-party driver to export: a responder may skip the pre-update backup',
    'the pre-update backup does not validate (an .inf in every package folder, no empty file, the expected count)',
    'a pnputil or PowerShell call fails or runs past driverStore.timeoutSeconds (its own words are shown); directory adapter: the rescan command fails, or the device-status file is unreadable',
    'the update was installed but the store did not select it for the device (stop keeps the working driver)',
    'the device still reports a problem after the automatic rollback, or after an update made without a pre-update backup (System Restore, then retry re-checks it)',
    'the device is no longer reported by the driver store',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['findDevice'] },
    { id: 'findDevice', label: 'find the device in the driver store', next: ['checkPackage'] },
    { id: 'checkPackage', label: 'check the update package', next: ['checkDiskSpace'] },
    { id: 'checkDiskSpace', label: 'check free space in the backups folder', next: ['createRestorePoint'] },
    { id: 'createRestorePoint', label: 'make a restore point (skippable)', next: ['exportPreUpdateBackup'] },
    {
      id: 'exportPreUpdateBackup',
      label: "export and validate the device's current driver (skippable)",
      next: ['gate:install'],
    },
    { id: 'gate:install', label: 'approve the install', next: ['installDriver'] },
    { id: 'installDriver', label: 'install the update package', next: ['verifyDevice'] },
    {
      id: 'verifyDevice',
      label: "check the device's problem code and driver",
      next: [
        { to: 'end:updated', when: 'problem code 0, update selected' },
        { to: 'confirmDriverApplied', when: 'problem code 0, update not selected' },
        { to: 'rollbackDriver', when: 'a problem, with a pre-update backup' },
        { to: 'verifyDeviceWithoutBackup', when: 'a problem, no pre-update backup' },
      ],
    },
    {
      id: 'confirmDriverApplied',
      label: 'waits until the store selects the update (stop keeps the working driver)',
      next: ['end:updated'],
    },
    {
      id: 'verifyDeviceWithoutBackup',
      label: 'waits for System Restore; retry re-checks the device',
      next: [
        { to: 'end:updated', when: 'the update is kept' },
        { to: 'end:rolledBack', when: 'another driver' },
      ],
    },
    {
      id: 'rollbackDriver',
      label: 'install the driver from the pre-update backup',
      next: ['verifyRolledBack'],
    },
    {
      id: 'verifyRolledBack',
      label: 'check the device uses it with problem code 0',
      next: ['end:rolledBack'],
    },
    { id: 'end:updated' },
    { id: 'end:rolledBack' },
  ],
};

export interface DriverUpdateInput {
  target: string;
  device: string;
  package: string;
}

export interface DriverUpdateResult {
  outcome: 'updated' | 'rolledBack';
  device: string;
  package: string;
  driverBefore?: string;
  driverAfter?: string;
  problemCodeBefore: number;
  /** The device's problem code once the update was installed (and had settleSeconds to start). */
  problemCodeAfterInstall: number;
  problemCodeAfter: number;
  /** The pre-update backup folder (absent when a responder skipped it). */
  backup?: string;
  restorePoint: RestorePointResult;
  rebootRequired: boolean;
}

// Store calls run pnputil within driverStore.timeoutSeconds; the heartbeat notices a dead worker.

export async function driverUpdate(input: DriverUpdateInput): Promise<RunOutcome<DriverUpdateResult>> {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const info = workflowInfo();
    const tag = runTagOf(info.startTime, info.runId);

    const found = await run.step('findDevice', 'findDriverDevice', [target, input.device], STORE_CALL);
    const device = found.device.instanceId;
    const before = found.device;
    run.fact('device', { instanceId: device, description: before.description, adapter: found.adapter });
    run.fact('driverBefore', found.driverPackage ?? before.driver ?? null);
    const pkg = await run.step('checkPackage', 'checkDriverPackage', [target, input.package]);
    run.fact('package', { name: pkg.package, ...pkg.identity, files: pkg.files, bytes: pkg.bytes });
    run.acceptInput();

    await run.step('checkDiskSpace', 'checkDriverDiskSpace', [target]);
    const restorePoint = await run.step(
      'createRestorePoint',
      'createDriverRestorePoint',
      [target, `Lifeboat driverUpdate ${pkg.package} on ${before.description || device}`, tag],
      // A responder may go on without one when System Protection is off.
      { ...STORE_CALL, skippable: true, skipValue: { created: false, description: '', note: 'skipped' } },
    );
    run.fact('restorePoint', restorePoint);
    const backup = await run.step(
      'exportPreUpdateBackup',
      'exportPreUpdateBackup',
      [target, device, tag, info.workflowId],
      { ...STORE_CALL, skippable: true, skipValue: { made: false } },
    );
    run.fact('backup', backup.made ? backup.folder : null);

    await run.gate(
      'install',
      `install ${pkg.package} (${[pkg.identity.provider, pkg.identity.version].filter(Boolean).join(' ') || 'no version in its INF'}) on ${device} (${before.description}), now using ${before.driver ?? 'no driver'}; ${backup.made ? `pre-update backup ${backup.folder}` : 'NO pre-update backup (skipped)'}; ${restorePoint.created ? 'restore point made' : `no new restore point (${restorePoint.note ?? 'skipped'})`}`,
      {
        summary: `installs ${pkg.package} on ${device} (${before.description}) in place of ${before.driver ?? 'no driver'}`,
        effects: [
          `the way back: ${backup.made ? `the pre-update backup ${backup.folder} (a stop puts it back)` : 'NO pre-update backup: only a restore point or a reinstall'}`,
          restorePoint.created
            ? 'a System Restore point was made before the install'
            : `no new System Restore point (${restorePoint.note ?? 'skipped'})`,
        ],
      },
    );
    const installed = await run.step('installDriver', 'installDriverPackage', [target, device, pkg.package], {
      ...STORE_CALL,
      compensation: backup.made
        ? {
            name: 'putPreUpdateDriverBack',
            activity: 'rollbackDriver',
            args: [target, device, backup.folder, { onlyIfChanged: true }],
          }
        : undefined,
    });
    run.fact('installed', installed);

    const after = await run.step(
      'verifyDevice',
      'checkDriverDevice',
      [target, device, { settle: true, expectDriver: installed.publishedNames }],
      STORE_CALL,
    );
    run.fact('problemCodeAfterInstall', after.device.problemCode);
    const result = {
      device,
      package: pkg.package,
      driverBefore: before.driver,
      problemCodeBefore: before.problemCode,
      problemCodeAfterInstall: after.device.problemCode,
      backup: backup.made ? backup.folder : undefined,
      restorePoint,
    };

    if (after.device.problemCode === 0) {
      if (!after.driverMatches) {
        // Nothing broke, but nothing changed either: a responder decides (stop leaves the old driver).
        await run.step(
          'confirmDriverApplied',
          'checkDriverDevice',
          [
            target,
            device,
            {
              require: true,
              expectDriver: installed.publishedNames,
              instruction:
                'the device keeps its working driver. Stop to leave it so, or select the package in Device Manager (Update Driver) and retry to re-check',
            },
          ],
          STORE_CALL,
        );
      }
      return {
        outcome: 'updated' as const,
        ...result,
        driverAfter: after.device.driver,
        problemCodeAfter: 0,
        rebootRequired: installed.rebootRequired,
      };
    }

    if (!backup.made) {
      const fixed = await run.step(
        'verifyDeviceWithoutBackup',
        'checkDriverDevice',
        [
          target,
          device,
          {
            require: true,
            instruction: `there is no pre-update backup to roll back from; ${found.restoreHint}`,
          },
        ],
        STORE_CALL,
      );
      const kept = installed.publishedNames.some(
        (n) => n.toLowerCase() === fixed.device.driver?.toLowerCase(),
      );
      return {
        outcome: kept ? ('updated' as const) : ('rolledBack' as const),
        ...result,
        driverAfter: fixed.device.driver,
        problemCodeAfter: fixed.device.problemCode,
        rebootRequired: installed.rebootRequired,
      };
    }

    // The procedure's answer to a failed update: the pre-update driver goes back at once.
    run.record('driver.rollback', {
      reason: `device reports problem code ${after.device.problemCode} after the update`,
      backup: backup.folder,
    });
    const { rollback, device: restored } = await rollBackAndVerify(run, device, backup.folder!, {
      verifyStep: 'verifyRolledBack',
      restoreHint: found.restoreHint,
      onlyIfChanged: true,
    });
    return {
      outcome: 'rolledBack' as const,
      ...result,
      driverAfter: restored.driver,
      problemCodeAfter: restored.problemCode,
      rebootRequired: installed.rebootRequired || rollback.rebootRequired,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
driverUpdate.meta = meta;
