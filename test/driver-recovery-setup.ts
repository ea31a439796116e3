/**
 * The set-up driver-recovery.test.ts, corrupted-driver-store.test.ts and driver-faults.test.ts
 * share (the pattern of drivers.test.ts): a worker on the real dev server, the pnputil/powershell
 * stand-ins on PATH with a fresh simulated Windows machine per test, directory-adapter targets from
 * the demo fixture, and the calls that start, watch and answer runs.
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { approveUpdate, retryUpdate, skipUpdate, statusQuery, stopUpdate } from '../common/messages';
import type { RunOutcome, RunStatus } from '../common/types';
import type { DriverBackupResult } from '../runbooks/driverBackup';
import {
  USB_ETHERNET,
  writeDriversDemo,
  writeDriverUpdates,
  writePnputilStandinState,
} from '../scripts/demo-drivers';
import { ROOT, startWorker, statusWhen, tempDir, uniqueQueue, writeConfig, type TestWorker } from './helpers';

const STANDINS = path.join(ROOT, 'test', 'standins');
/** The stand-ins' environment (see their headers), cleared before each test: no fault by default. */
const STANDIN_ENV = [
  'PNPUTIL_STANDIN_STATE',
  'PNPUTIL_STANDIN_LOG',
  'PNPUTIL_STANDIN_ADD_FAIL',
  'PNPUTIL_STANDIN_ADD_FAIL_EXIT',
  'POWERSHELL_STANDIN_LOG',
  'POWERSHELL_STANDIN_POINTS',
  'POWERSHELL_STANDIN_LIST',
];

export interface Device {
  instanceId: string;
  driver?: string;
  problemCode: number;
}
interface StandinState {
  devices: Device[];
  packages: { publishedName: string }[];
}
type DirectoryDemo = { driverStore: { devices: string; store: string; backups: string } };

export function calls(file: string | undefined): string[][] {
  if (!file || !fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as string[]);
}
export const pnputilCalls = () => calls(process.env.PNPUTIL_STANDIN_LOG);
export const powershellCalls = () => calls(process.env.POWERSHELL_STANDIN_LOG);
/** The simulated machine's state file, as bytes (to prove nothing changed). */
export const standinBytes = () => fs.readFileSync(process.env.PNPUTIL_STANDIN_STATE!);

export const standinState = (): StandinState =>
  JSON.parse(fs.readFileSync(process.env.PNPUTIL_STANDIN_STATE!, 'utf8'));
const writeStandinState = (state: StandinState) =>
  fs.writeFileSync(process.env.PNPUTIL_STANDIN_STATE!, JSON.stringify(state, null, 2));

/** Changes a device in the simulated store, as Windows (or System Restore) would. */
export function setStandinDevice(id: string, patch: Partial<Device>): void {
  const state = standinState();
  Object.assign(
    state.devices.find((d) => d.instanceId === id)!,
    patch,
  );
  writeStandinState(state);
}

/** Windows freshly reinstalled: no third-party package, and the devices that used one have none. */
export function reinstallWindows(): void {
  const state = standinState();
  state.packages = [];
  for (const d of state.devices)
    if (/^oem\d+\.inf$/.test(d.driver ?? '')) Object.assign(d, { driver: undefined, problemCode: 28 });
  writeStandinState(state);
}

export const atGate = (gate: string) => (s: RunStatus) => s.waiting?.gate === gate;
export const waitingAt = (step: string) => (s: RunStatus) =>
  s.state === 'waiting' && s.waiting?.step === step;

/**
 * Installs the suite's hooks: `targets(dir, pn, dirTarget)` builds the config's targets with
 * `pn(name, extra)` (pnputil adapter, backups under `<dir>/<name>`) and `dirTarget(name)` (the demo
 * fixture with its sets, one under sets/ and the `usb` restoreSets entry).
 */
export function driverRecoverySuite(
  name: string,
  targets: (
    dir: string,
    pn: (target: string, extra?: Record<string, unknown>) => unknown,
    dirTarget: (target: string) => unknown,
  ) => Record<string, unknown>,
) {
  let tw: TestWorker;
  let savedPath: string | undefined;
  let standinCount = 0;
  const suite = { dir: '', demos: {} as Record<string, DirectoryDemo> };

  beforeAll(async () => {
    const dir = (suite.dir = tempDir(name));
    writeDriverUpdates(path.join(dir, 'updates'));
    const pn = (target: string, extra: Record<string, unknown> = {}) => ({
      driverStore: {
        adapter: 'pnputil',
        backups: path.join(dir, target, 'backups'),
        updates: path.join(dir, 'updates'),
        minFreeBytes: 0,
        timeoutSeconds: 20,
        settleSeconds: 0,
        ...extra,
      },
    });
    const dirTarget = (target: string) => {
      const demo = writeDriversDemo(path.join(dir, target), { recoverySets: true }) as DirectoryDemo;
      suite.demos[target] = demo;
      return { ...demo, driverStore: { ...demo.driverStore, settleSeconds: 1 } };
    };
    const { config } = writeConfig(dir, {
      auditLedger: 'audit.sqlite',
      targets: targets(dir, pn, dirTarget),
    });
    savedPath = process.env.PATH;
    // The worker runs in this process and spawns pnputil/powershell with this environment.
    process.env.PATH = `${STANDINS}${path.delimiter}${savedPath ?? ''}`;
    tw = await startWorker(config, uniqueQueue(name));
  });

  afterAll(async () => {
    await tw?.stop();
    process.env.PATH = savedPath;
    for (const key of STANDIN_ENV) delete process.env[key];
  });

  /** A fresh simulated Windows machine whose USB LAN adapter works (on Windows' inbox driver). */
  beforeEach(() => {
    const at = path.join(suite.dir, `standin-${++standinCount}`);
    fs.mkdirSync(at, { recursive: true });
    for (const key of STANDIN_ENV) delete process.env[key];
    process.env.PNPUTIL_STANDIN_STATE = writePnputilStandinState(at);
    process.env.PNPUTIL_STANDIN_LOG = path.join(at, 'pnputil.log');
    process.env.POWERSHELL_STANDIN_LOG = path.join(at, 'powershell.log');
    process.env.POWERSHELL_STANDIN_POINTS = path.join(at, 'restore-points.json');
    setStandinDevice(USB_ETHERNET, { driver: 'netusbw10.inf', problemCode: 0 });
  });

  function start(runbook: string, input: Record<string, unknown>) {
    return tw.client.workflow.start(runbook, {
      taskQueue: tw.taskQueue,
      workflowId: `${runbook}-${String(input.target)}-${Math.random().toString(36).slice(2, 8)}`,
      args: [input],
    });
  }
  type Handle = Awaited<ReturnType<typeof start>>;

  /** Waits for a state of the run; on a time-out, says where the run is instead. */
  async function waitFor(handle: Handle, predicate: (s: RunStatus) => boolean, what: string) {
    try {
      return await statusWhen(tw.client, handle.workflowId, predicate, what);
    } catch (err) {
      const s = await handle.query(statusQuery);
      throw new Error(
        `${(err as Error).message}; the run is ${s.state} at ${s.currentStep}: ${s.waiting?.reason ?? s.error ?? ''}`,
      );
    }
  }

  /** The devices of a directory-adapter target's device-status file, and a way to change them. */
  const devicesFile = (target: string) => suite.demos[target].driverStore.devices;
  const readDevices = (target: string) =>
    JSON.parse(fs.readFileSync(devicesFile(target), 'utf8')) as { devices: Device[] };

  return {
    suite,
    start,
    waitFor,
    approve: (handle: Handle) => handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] }),
    retry: (handle: Handle, comment: string) =>
      handle.executeUpdate(retryUpdate, { args: [{ actor: 'alice', comment }] }),
    skip: (handle: Handle, comment: string) =>
      handle.executeUpdate(skipUpdate, { args: [{ actor: 'alice', comment }] }),
    stop: (handle: Handle) =>
      handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'enough for now' }] }),

    async failureOf(handle: Handle): Promise<ApplicationFailure> {
      try {
        await handle.result();
      } catch (err) {
        expect(err).toBeInstanceOf(WorkflowFailedError);
        return (err as WorkflowFailedError).cause as ApplicationFailure;
      }
      throw new Error('the run did not fail');
    },

    /** A full driver backup set of the target's store, made by driverBackup; returns its folder. */
    async backUpDrivers(target: string): Promise<string> {
      const outcome = (await (
        await start('driverBackup', { target })
      ).result()) as RunOutcome<DriverBackupResult>;
      return outcome.result!.set;
    },

    devicesFile,
    directoryDevices: (target: string) => readDevices(target).devices,
    setDirectoryDevices(target: string, patch: (d: Device) => Partial<Device> | undefined): void {
      const doc = readDevices(target);
      for (const d of doc.devices) Object.assign(d, patch(d) ?? {});
      fs.writeFileSync(devicesFile(target), JSON.stringify(doc, null, 2));
    },
  };
}
