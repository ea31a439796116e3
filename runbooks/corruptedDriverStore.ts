/**
 * corruptedDriverStore — procedure 000 §3.3: a device scan in which at least
 * driverStore.corruptDeviceThreshold devices report problem code 31 or 39 means a damaged driver
 * store. With a restore point Lifeboat made, a responder runs System Restore to the newest one (only
 * a person can: it restarts the machine) and `retry` re-checks every device; without one, the
 * drivers come back from the last known good full backup set under `<backups>/sets/` behind gate
 * `restoreDrivers`, and a full scan must find every device at problem code 0. Fewer such devices:
 * the run ends at once and changes nothing.
 */
import type { RunbookMeta } from '../common/runbook';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';
import { STORE_CALL, restoreSetAndScan } from './driverSteps';

export const meta: RunbookMeta = {
  name: 'corruptedDriverStore',
  title: 'Recover a corrupted driver store',
  summary:
    'When at least driverStore.corruptDeviceThreshold devices report problem code 31 or 39: waits while a responder runs System Restore to the newest restore point Lifeboat made, then re-checks every device; without one, restores every driver from the newest valid full backup set after approval and scans every device. Fewer such devices: ends without changing anything.',
  source:
    '000_be3e8dfd50981456.txt — §3.3 corrupted driver store (steps 1–4), §2.3 backup validation, §4 RTO',
  objectives: { rtoMinutes: 15 },
  input: {},
  gates: {
    restoreDrivers: {
      description:
        'before the packages of the last known good set are added to the driver store and installed',
      defaults: { approvers: ['*'], quorum: 1 },
    },
  },
  requires: ['driverStore'],
  stops: [
    'a restore point Lifeboat made exists: wait while a responder runs System Restore to it (the reason names it); retry re-checks every device, stop ends',
    'a device still reports a problem after System Restore, or after the set was restored (each is listed with its problem code): retry scans again',
    'the restore points cannot be listed (PowerShell fails): a responder may skip to restore from the last backup set',
    'no restore point Lifeboat made and no driver backup set (or none that validates): says what to do (copy a set into <backups>/sets/ and retry, or System Restore / reinstall by hand and stop)',
    'the set no longer validates when the restore starts; a pnputil call fails or runs past driverStore.timeoutSeconds; directory adapter: the rescan command fails, or the device-status file is unreadable',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['scanDevices'] },
    {
      id: 'scanDevices',
      label: 'scan every device for problem code 31 or 39',
      next: [
        { to: 'findRestorePoint', when: 'at least corruptDeviceThreshold' },
        { to: 'end:unchanged', when: 'fewer' },
      ],
    },
    {
      id: 'findRestorePoint',
      label: 'find the newest restore point Lifeboat made (skippable)',
      next: [
        { to: 'systemRestore', when: 'found' },
        { to: 'findDriverSet', when: 'none (or skipped)' },
      ],
    },
    {
      id: 'systemRestore',
      hold: true,
      label: 'a responder runs System Restore to it, then retry',
      next: ['recheckDevices'],
    },
    { id: 'recheckDevices', label: 'full scan: every device at problem code 0', next: ['end:systemRestore'] },
    {
      id: 'findDriverSet',
      label: 'find the newest valid full driver backup set',
      next: ['gate:restoreDrivers'],
    },
    { id: 'gate:restoreDrivers', label: 'approve the restore', next: ['restoreDriverSet'] },
    {
      id: 'restoreDriverSet',
      label: 'add every package of the set and install it on matching devices',
      next: ['verifyDevices'],
    },
    {
      id: 'verifyDevices',
      label: 'full scan: every device at problem code 0',
      next: ['end:restoredFromSet'],
    },
    { id: 'end:unchanged' },
    { id: 'end:systemRestore' },
    { id: 'end:restoredFromSet' },
  ],
};

export interface CorruptedDriverStoreResult {
  outcome: 'unchanged' | 'systemRestore' | 'restoredFromSet';
  /** What happened, in a sentence (for `unchanged`: why nothing was done). */
  note: string;
  /** Devices that reported problem code 31 or 39 at the start. */
  corrupted: { instanceId: string; description: string; problemCode: number }[];
  threshold: number;
  devices: number;
  /** The restore point a responder was asked to go back to (systemRestore). */
  restorePoint?: string;
  /** The set restored (restoredFromSet). */
  set?: string;
  rebootRequired: boolean;
}

export async function corruptedDriverStore(input: {
  target: string;
}): Promise<RunOutcome<CorruptedDriverStoreResult>> {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const scan = await run.step('scanDevices', 'scanDriverDevices', [target], STORE_CALL);
    const corrupted = scan.corrupted.map((d) => ({
      instanceId: d.instanceId,
      description: d.description,
      problemCode: d.problemCode,
    }));
    run.fact('corrupted', corrupted);
    const found = `${corrupted.length} of ${scan.devices.length} device(s) report problem code 31 or 39${corrupted.length ? ` (${corrupted.map((d) => `${d.instanceId}: ${d.problemCode}`).join(', ')})` : ''}`;
    const base = { corrupted, threshold: scan.threshold, devices: scan.devices.length };

    if (corrupted.length < scan.threshold) {
      return {
        outcome: 'unchanged' as const,
        note: `${found}, fewer than driverStore.corruptDeviceThreshold (${scan.threshold}): the driver store is not taken to be corrupted, and nothing was changed (a single failing device: failedDriverUpdate)`,
        ...base,
        rebootRequired: false,
      };
    }

    const search = await run.step('findRestorePoint', 'findLifeboatRestorePoint', [target], {
      ...STORE_CALL,
      // Skipping (System Restore unavailable) goes on to the last backup set.
      skippable: true,
      skipValue: { found: false },
    });
    run.fact('restorePoint', search.point ?? null);

    if (search.found && search.point) {
      // Procedure §3.3 step 2: only a person can run System Restore (it restarts the machine).
      await run.hold('systemRestore', `${found}; ${search.hint}`, 'DeviceProblem');
      const check = await run.step(
        'recheckDevices',
        'checkAllDevices',
        [target, { instruction: `System Restore did not make them work; ${search.hint}` }],
        STORE_CALL,
      );
      return {
        outcome: 'systemRestore' as const,
        note: `System Restore to "${search.point.description}": all ${check.devices.length} device(s) report problem code 0`,
        ...base,
        restorePoint: search.point.description,
        rebootRequired: false,
      };
    }

    // Procedure §3.3 step 3: no restore point, so the drivers come back from the last known good set.
    // A skipped listing found nothing: the texts say so rather than claim there is no restore point.
    const skipped = run.status.steps.some((s) => s.name === 'findRestorePoint' && s.state === 'skipped');
    const noPoint = skipped
      ? 'the restore points were not listed (findRestorePoint was skipped)'
      : 'there is no restore point Lifeboat made';
    const set = await run.step(
      'findDriverSet',
      'findDriverSet',
      [
        target,
        undefined,
        {
          whenNone: `${noPoint} either. Copy a full driver backup set (with its driver-backup.json) into that folder and retry; or run System Restore (rstrui.exe) to a restore point Windows kept, or reinstall the drivers, and stop (this run changed nothing)`,
        },
      ],
      STORE_CALL,
    );
    run.fact('set', { name: set.name, folder: set.folder, packages: set.packages });
    const { restored, devices } = await restoreSetAndScan(
      run,
      set,
      scan,
      `${found}, and ${noPoint}; restore the drivers from the last known good set`,
    );
    return {
      outcome: 'restoredFromSet' as const,
      note: `restored the ${set.packages} driver package(s) of ${set.folder}: all ${devices.length} device(s) report problem code 0`,
      ...base,
      set: set.folder,
      rebootRequired: restored.rebootRequired,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
corruptedDriverStore.meta = meta;
