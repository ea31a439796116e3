/**
 * The driver runbooks when the host's tools fail part-way, on a real dev server with the stand-ins
 * of test/standins (test/driver-recovery-setup.ts): corruptedDriverStore when PowerShell cannot list
 * the restore points (it fails, or prints no JSON), and driverSetRestore when pnputil adds only part
 * of a set. In neither case may the run guess or claim success: it waits at the failed step, naming
 * what went wrong.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunOutcome, RunStatus } from '../common/types';
import type { CorruptedDriverStoreResult } from '../runbooks/corruptedDriverStore';
import type { DriverSetRestoreResult } from '../runbooks/driverSetRestore';
import { AUDIO, KEYBOARD, NIC, USB_ETHERNET } from '../scripts/demo-drivers';
import {
  atGate,
  driverRecoverySuite,
  pnputilCalls,
  powershellCalls,
  reinstallWindows,
  setStandinDevice,
  standinBytes,
  standinState,
  waitingAt,
} from './driver-recovery-setup';

const { start, waitFor, approve, retry, skip, stop, backUpDrivers } = driverRecoverySuite(
  'driver-faults',
  (_dir, pn) => ({ pnCorrupt: pn('pnCorrupt'), pnRestore: pn('pnRestore') }),
);

const LISTING = /^ConvertTo-Json -Compress -InputObject @\(Get-ComputerRestorePoint /;
/** The PowerShell calls that listed the restore points (not those that made one). */
const listings = () => powershellCalls().filter((argv) => LISTING.test(argv[argv.length - 1]));
const step = (s: RunStatus, name: string) => s.steps.find((r) => r.name === name);
/** Waiting at `name` after its `attempts`-th attempt failed (not the earlier wait still showing). */
const failedAttempt = (name: string, attempts: number) => (s: RunStatus) =>
  waitingAt(name)(s) && step(s, name)?.attempts === attempts;

describe('corruptedDriverStore: the restore points cannot be listed', () => {
  const LIFEBOAT_POINT = 'Lifeboat driverUpdate netdrv-1.1.0.0 on Contoso Gigabit Network Connection';

  /** A store with two corrupted devices, a restore point Lifeboat made, and a backup set. */
  async function corruptedStore(): Promise<string> {
    fs.writeFileSync(
      process.env.POWERSHELL_STANDIN_POINTS!,
      JSON.stringify([
        { SequenceNumber: 12, Description: LIFEBOAT_POINT, CreationTime: '20250602093000.000000+060' },
      ]),
    );
    const set = await backUpDrivers('pnCorrupt');
    setStandinDevice(NIC, { problemCode: 31 });
    setStandinDevice(AUDIO, { problemCode: 39 });
    return set;
  }

  test('PowerShell fails: a skippable STOP naming the failure, nothing guessed; skip goes on to the backup set', async () => {
    const set = await corruptedStore();
    process.env.POWERSHELL_STANDIN_LIST = 'fail';
    const before = standinBytes();
    const adds = pnputilCalls().filter((c) => c[0] === '/add-driver').length;
    const handle = await start('corruptedDriverStore', { target: 'pnCorrupt' });
    const stopped = await waitFor(handle, waitingAt('findRestorePoint'), 'the listing STOP');
    expect(stopped.waiting).toMatchObject({
      kind: 'failure',
      errorType: 'CommandFailed',
      allowed: ['retry', 'skip', 'stop'],
    });
    const reason = stopped.waiting!.reason;
    expect(reason).toMatch(
      /^powershell -NoProfile -NonInteractive -Command ConvertTo-Json -Compress -InputObject @\(Get-ComputerRestorePoint .* exited with 1: /,
    );
    expect(reason).toContain('Get-ComputerRestorePoint : Access is denied.');
    expect(reason).toMatch(
      /; System Restore may be unavailable on this host: skip to restore from the last driver backup set instead$/,
    );
    // Neither branch was taken: no hold for System Restore, no set looked for, no gate.
    expect(stopped.steps.map((s) => [s.name, s.state])).toEqual([
      ['resolveTarget', 'succeeded'],
      ['scanDevices', 'succeeded'],
      ['findRestorePoint', 'waiting'],
    ]);
    expect(stopped.facts).not.toHaveProperty('restorePoint');
    // A STOP, not a silent retry: PowerShell ran once.
    expect(listings()).toHaveLength(1);
    expect(standinBytes()).toEqual(before);

    await skip(handle, 'System Restore is broken on this host');
    const gate = await waitFor(handle, atGate('restoreDrivers'), 'the restoreDrivers gate');
    expect(step(gate, 'findRestorePoint')).toMatchObject({ state: 'skipped', attempts: 1 });
    expect(gate.facts.restorePoint).toBeNull();
    expect(gate.facts.set).toMatchObject({ folder: set, packages: 3 });
    expect(gate.waiting!.reason).toContain(`add the 3 driver package(s) of the set ${set}`);
    // The listing was skipped, not empty: the reason does not claim there is no restore point.
    expect(gate.waiting!.reason).toContain(
      'the restore points were not listed (findRestorePoint was skipped)',
    );
    expect(gate.waiting!.reason).not.toContain('there is no restore point');
    expect(listings()).toHaveLength(1);
    expect(standinBytes()).toEqual(before);

    await approve(handle);
    const outcome = (await handle.result()) as RunOutcome<CorruptedDriverStoreResult>;
    expect(outcome.result).toMatchObject({ outcome: 'restoredFromSet', set });
    expect(outcome.result!.restorePoint).toBeUndefined();
    expect(pnputilCalls().filter((c) => c[0] === '/add-driver')).toHaveLength(adds + 1);
    expect(standinState().devices.every((d) => d.problemCode === 0)).toBe(true);
  });

  test('PowerShell prints no JSON: a STOP naming it; retry lists again, and once the listing works the point is found', async () => {
    await corruptedStore();
    process.env.POWERSHELL_STANDIN_LIST = 'garbage';
    const before = standinBytes();
    const handle = await start('corruptedDriverStore', { target: 'pnCorrupt' });
    const first = await waitFor(handle, failedAttempt('findRestorePoint', 1), 'the listing STOP');
    expect(first.waiting).toMatchObject({
      errorType: 'CommandFailed',
      allowed: ['retry', 'skip', 'stop'],
    });
    // The half of the listing that was printed (it names the point) is shown, not taken for an answer.
    expect(first.waiting!.reason).toMatch(
      /^powershell Get-ComputerRestorePoint did not answer in JSON \(.+\): \[\{"SequenceNumber":12,/,
    );
    expect(first.facts).not.toHaveProperty('restorePoint');
    expect(listings()).toHaveLength(1);

    await retry(handle, 'try again');
    const second = await waitFor(handle, failedAttempt('findRestorePoint', 2), 'the second STOP');
    expect(second.waiting!.reason).toBe(first.waiting!.reason);
    expect(listings()).toHaveLength(2);

    delete process.env.POWERSHELL_STANDIN_LIST;
    await retry(handle, 'restarted the WMI service');
    const held = await waitFor(handle, waitingAt('systemRestore'), 'the System Restore hold');
    expect(listings()).toHaveLength(3);
    expect(step(held, 'findRestorePoint')).toMatchObject({ state: 'succeeded', attempts: 3 });
    expect(held.facts.restorePoint).toMatchObject({ description: LIFEBOAT_POINT, sequenceNumber: 12 });
    expect(held.waiting!.reason).toContain(`restore point 12 "${LIFEBOAT_POINT}"`);

    await stop(handle);
    expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
    expect(standinBytes()).toEqual(before);
  });
});

describe('driverSetRestore: pnputil adds only part of the set', () => {
  // The set's package folders, as /subdirs walks them: ctxaudio, ctxusbf, netdrv. The second is
  // refused. It matches no device, so only pnputil's own report tells that it is missing.
  test.each([
    ['with a failure exit code', '1'],
    ['exiting 0', '0'],
  ])(
    '%s: a STOP naming exactly the package not added, never `restored`; retry adds it',
    async (_how, exitCode) => {
      const set = await backUpDrivers('pnRestore');
      reinstallWindows();
      process.env.PNPUTIL_STANDIN_ADD_FAIL = 'ctxusbf';
      process.env.PNPUTIL_STANDIN_ADD_FAIL_EXIT = exitCode;
      const handle = await start('driverSetRestore', { target: 'pnRestore' });
      await waitFor(handle, atGate('restoreDrivers'), 'the restoreDrivers gate');
      await approve(handle);
      const stopped = await waitFor(handle, waitingAt('restoreDriverSet'), 'the partial-add STOP');

      // The stand-in did add the other two: the store holds part of the set.
      expect(standinState().packages.map((p) => p.publishedName)).toEqual(['oem9.inf', 'oem10.inf']);
      expect(stopped.waiting).toMatchObject({
        kind: 'failure',
        errorType: 'CommandFailed',
        // No skip: skipping would go on as if the set were in place.
        allowed: ['retry', 'stop'],
      });
      const reason = stopped.waiting!.reason;
      expect(reason).toContain(set);
      // Which package was not added, in pnputil's words; and none of those added is named so.
      expect(reason).toMatch(
        /not added: ctxusbf\.inf \(Failed to add driver package: The third-party INF does not contain digital signature information\.\)/,
      );
      expect(reason).not.toMatch(/not added:[^;]*(netdrv|ctxaudio)\.inf/);
      expect(stopped.steps.map((s) => s.name)).not.toContain('verifyDevices');
      expect(stopped.facts).not.toHaveProperty('restored');

      delete process.env.PNPUTIL_STANDIN_ADD_FAIL;
      delete process.env.PNPUTIL_STANDIN_ADD_FAIL_EXIT;
      await retry(handle, 'trusted the Contoso USB certificate');
      const outcome = (await handle.result()) as RunOutcome<DriverSetRestoreResult>;
      expect(outcome.result).toMatchObject({
        outcome: 'restored',
        folder: set,
        packages: 3,
        // The two added first are recognised, the third added now.
        publishedNames: ['oem9.inf', 'oem11.inf', 'oem10.inf'],
      });
      expect(pnputilCalls().filter((c) => c[0] === '/add-driver')).toEqual([
        ['/add-driver', path.join(set, '*.inf'), '/subdirs', '/install'],
        ['/add-driver', path.join(set, '*.inf'), '/subdirs', '/install'],
      ]);
      expect(standinState().devices.map((d) => [d.instanceId, d.problemCode])).toEqual(
        [NIC, AUDIO, KEYBOARD, USB_ETHERNET].map((id) => [id, 0]),
      );
    },
  );
});
