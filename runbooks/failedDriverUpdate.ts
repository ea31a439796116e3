/**
 * failedDriverUpdate — procedure 000 §3.1: after an update left a device malfunctioning, find its
 * newest valid pre-update backup; with one, wait at gate `rollback`, install the backed-up driver and
 * check that the device reports problem code 0. Without one, wait for a responder to run System
 * Restore (`retry` re-checks the device, `stop` ends the run).
 *
 * The rollback has no compensation: it adds a package and selects it for the device, and removes
 * nothing (the failing package stays in the driver store, and in driverStore.updates).
 */
import type { RunbookMeta } from '../common/runbook';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';
import { STORE_CALL, rollBackAndVerify } from './driverSteps';

export const meta: RunbookMeta = {
  name: 'failedDriverUpdate',
  title: 'Recover a device after a failed driver update',
  summary:
    'Rolls a device back to the driver in its newest valid pre-update backup after approval and checks it reports problem code 0; without a backup, waits while a responder runs System Restore, then re-checks the device.',
  source: '000_be3e8dfd50981456.txt — §3.1 failed driver update (steps 4a, 4b, 5), §2.3 backup validation',
  objectives: { rtoMinutes: 2 },
  input: {
    device: {
      type: 'string',
      required: true,
      description: 'device instance id, e.g. PCI\\VEN_8086&DEV_15BC&SUBSYS_08B21028&REV_10\\3&11583659&0&FE',
    },
  },
  gates: {
    rollback: {
      description: "before the pre-update backup's driver is installed on the device",
      defaults: { approvers: ['*'], quorum: 1 },
    },
  },
  requires: ['driverStore'],
  // The device id is checked against the driver store before `start` returns.
  checksInput: true,
  stops: [
    'no pre-update backup of the device: run System Restore (rstrui.exe) to the restore point made before the update, then retry (re-checks the device) or stop',
    'the device still reports a problem after System Restore (retry re-checks it again)',
    'pre-update backups exist but none validates (each is named with its problem): repair one and retry, or skip to go on to System Restore',
    'the pre-update backup no longer validates when the rollback starts',
    'a pnputil call fails or runs past driverStore.timeoutSeconds (its own words are shown); directory adapter: the rescan command fails, or the device-status file is unreadable',
    'the device still reports a problem, or does not use the restored driver, after the rollback',
    'the device is no longer reported by the driver store',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['findDevice'] },
    { id: 'findDevice', label: 'find the device in the driver store', next: ['findPreUpdateBackup'] },
    {
      id: 'findPreUpdateBackup',
      label: 'find the newest valid pre-update backup',
      next: [
        { to: 'gate:rollback', when: 'found' },
        { to: 'systemRestore', when: 'none (or skipped)' },
      ],
    },
    { id: 'gate:rollback', label: 'approve the rollback', next: ['rollbackDriver'] },
    { id: 'rollbackDriver', label: 'install the driver from the pre-update backup', next: ['verifyDevice'] },
    { id: 'verifyDevice', label: 'check the device uses it with problem code 0', next: ['end:rolledBack'] },
    {
      id: 'systemRestore',
      hold: true,
      label: 'a responder runs System Restore, then retry',
      next: ['recheckDevice'],
    },
    { id: 'recheckDevice', label: 'check the device reports problem code 0', next: ['end:systemRestore'] },
    { id: 'end:rolledBack' },
    { id: 'end:systemRestore' },
  ],
};

export interface FailedDriverUpdateInput {
  target: string;
  device: string;
}

export interface FailedDriverUpdateResult {
  outcome: 'rolledBack' | 'systemRestore';
  device: string;
  problemCodeBefore: number;
  problemCodeAfter: number;
  driverBefore?: string;
  driverAfter?: string;
  /** The pre-update backup used (rolledBack). */
  backup?: string;
  rebootRequired: boolean;
}

// Store calls run pnputil within driverStore.timeoutSeconds; the heartbeat notices a dead worker.

export async function failedDriverUpdate(
  input: FailedDriverUpdateInput,
): Promise<RunOutcome<FailedDriverUpdateResult>> {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const found = await run.step('findDevice', 'findDriverDevice', [target, input.device], STORE_CALL);
    const device = found.device.instanceId;
    const before = found.device;
    run.fact('device', { instanceId: device, description: before.description, adapter: found.adapter });
    run.fact('driverBefore', found.driverPackage ?? before.driver ?? null);
    run.fact('problemCodeBefore', before.problemCode);
    run.acceptInput();

    const search = await run.step('findPreUpdateBackup', 'findPreUpdateBackup', [target, device], {
      // Skipping (after no backup validated) goes on to System Restore.
      skippable: true,
      skipValue: { found: false, checked: [] },
    });
    run.fact('backupsChecked', search.checked);

    if (search.found) {
      run.fact('backupUsed', search.folder);
      await run.gate(
        'rollback',
        `roll ${device} (${before.description}, problem code ${before.problemCode}, driver ${before.driver ?? 'none'}) back to ${search.driver?.originalName ?? 'the driver'} ${search.driver?.version ?? ''} from ${search.folder}`,
        {
          summary: `installs ${search.driver?.originalName ?? 'the driver'} ${search.driver?.version ?? ''} from the pre-update backup ${search.folder} on ${device}, in place of ${before.driver ?? 'no driver'}`,
          effects: [
            `device ${device} (${before.description}) stops using ${before.driver ?? 'no driver'} (problem code ${before.problemCode})`,
            'the failed driver package stays in the driver store (pnputil /enum-drivers lists it)',
            `the way back: ${found.restoreHint}`,
          ],
        },
      );
      const { rollback, device: after } = await rollBackAndVerify(run, device, search.folder!, {
        verifyStep: 'verifyDevice',
        restoreHint: found.restoreHint,
      });
      return {
        outcome: 'rolledBack' as const,
        device,
        problemCodeBefore: before.problemCode,
        problemCodeAfter: after.problemCode,
        driverBefore: before.driver,
        driverAfter: after.driver,
        backup: search.folder,
        rebootRequired: rollback.rebootRequired,
      };
    }

    // Procedure §3.1 step 4b: only a human can run System Restore (it reboots the machine).
    await run.hold(
      'systemRestore',
      `no ${search.checked.length ? 'valid ' : ''}pre-update backup of ${device} in ${search.root ?? found.preUpdateFolder}; ${found.restoreHint}`,
      'NoValidBackup',
    );
    const check = await run.step(
      'recheckDevice',
      'checkDriverDevice',
      [target, device, { require: true, instruction: found.restoreHint }],
      STORE_CALL,
    );
    return {
      outcome: 'systemRestore' as const,
      device,
      problemCodeBefore: before.problemCode,
      problemCodeAfter: check.device.problemCode,
      driverBefore: before.driver,
      driverAfter: check.device.driver,
      rebootRequired: false,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
failedDriverUpdate.meta = meta;
