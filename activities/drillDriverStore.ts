/**
 * The corruptedDriverStore drill (procedure 000 §3.3 in a sandbox), for a driver store kept by the
 * `directory` adapter (a `pnputil` store is the machine's own and is never sandboxed):
 *
 * - the sandbox gets its own copies of what the adapter and its rescan command touch: the store
 *   folder, the device-status file and the driver backups, but not the restore points. System
 *   Restore is a person's to run (it restarts the machine), so a drill never waits for it: its
 *   recovery goes to the last known good full driver backup set, which must exist (the scenario
 *   check says so, naming `driverStore.backups`);
 * - the disaster writes down every package folder's digest and the devices, then damages the
 *   packages of `driverStore.corruptDeviceThreshold` devices (deleted, or bytes overwritten) and
 *   marks those devices with problem code 39 or 31 in the sandbox's device-status file;
 * - the checks: every device of the sandbox's device scan at problem code 0, every package back with
 *   the files it had before, and the set restored was the sandbox's copy.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { TargetConfig } from '../config';
import type { RecoveryReport } from './drillChecks';
import { CORRUPT_CODES, deviceList } from './driverRecovery';
import { stopFailure } from './errors';
import { heartbeater } from './lib/context';
import { listBackupFolders, readManifest, setsRoot, validateDriverSet } from './lib/drivers/backups';
import { createDriverStore } from './lib/drivers';
import { treeDigest } from './lib/drivers/tree';
import { exists, writeFileAtomic } from './lib/files';
import { sandboxPath, type SandboxMapping } from './lib/sandbox';
import { check, fieldOf, type ScenarioChecks } from './lib/sandboxChecks';

/** Where the driver store's state before the disaster is written down, in the sandbox. */
export const DRIVERS_BEFORE = 'driver-store-before.json';

const DAMAGE = Buffer.from('LIFEBOAT DRILL: SIMULATED DRIVER STORE DAMAGE. ');

type Skipped = { path: string; reason: string };

interface DeviceRecord {
  instanceId: string;
  driver?: unknown;
  problemCode?: unknown;
  [other: string]: unknown;
}

interface DriversBefore {
  takenAt: string;
  /** Every package folder of the sandbox's store (hidden ones aside), by name: its tree digest. */
  packages: Record<string, string>;
  /** The packages damaged, and how. */
  damaged: { name: string; how: 'deleted' | 'bytes overwritten' }[];
  /** The devices marked, with the problem code given. */
  marked: { instanceId: string; driver: string; problemCode: number }[];
}

async function readDeviceDoc(file: string): Promise<{ devices: DeviceRecord[] } & Record<string, unknown>> {
  const doc = JSON.parse(await fsp.readFile(file, 'utf8')) as { devices?: unknown };
  if (!Array.isArray(doc.devices)) throw new Error(`${file} holds no "devices" list`);
  return doc as { devices: DeviceRecord[] } & Record<string, unknown>;
}

async function packageFolders(store: string): Promise<string[]> {
  const entries = await fsp.readdir(store, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** Devices bound to a package folder of `store`: what a damaged store breaks. */
async function boundDevices(devicesFile: string, store: string) {
  const packages = new Set(await packageFolders(store));
  return (await readDeviceDoc(devicesFile)).devices.filter(
    (d): d is DeviceRecord & { driver: string } => typeof d.driver === 'string' && packages.has(d.driver),
  );
}

async function digests(store: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await packageFolders(store))
    out[name] = await treeDigest(path.join(store, name)).catch((err: Error) => `unreadable: ${err.message}`);
  return out;
}

/**
 * What a target lacks for a corruptedDriverStore drill beyond a `directory` driver store (empty: it
 * fits): a rescan command and its drill copy, a valid driver backup set, and enough devices bound to
 * a package of the store. Production is only read.
 */
export async function driverStoreLacks(target: TargetConfig, targetName: string): Promise<string[]> {
  const settings = target.driverStore;
  if (settings?.adapter !== 'directory') return [];
  const at = `targets.${targetName}`;
  const lacks: string[] = [];
  if (!settings.rescan)
    lacks.push(
      `a rescan command (${at}.driverStore.rescan, with its drill copy in ${at}.drill.commands; after the drivers come back only a rescan clears the devices' problem codes)`,
    );
  else if (!target.drill?.commands[settings.rescan])
    lacks.push(
      `the command '${settings.rescan}' in its drill's commands (${at}.drill.commands.${settings.rescan}, the copy of driverStore.rescan that rescans the sandbox's device-status file; a drill never runs the target's own commands, which act on production)`,
    );
  const root = setsRoot(settings.backups);
  const tags = await listBackupFolders(root);
  const problems: string[] = [];
  let valid = false;
  for (const tag of tags) {
    const verdict = await validateDriverSet(path.join(root, tag));
    valid = verdict.valid;
    if (valid) break;
    problems.push(`${tag}: ${verdict.problem}`);
  }
  if (!valid)
    lacks.push(
      `a valid full driver backup set in ${root} (${at}.driverStore.backups; ${problems.length ? `none validates: ${problems.join('; ')}` : 'there is none'}; run driverBackup first: a drill's sandbox has no restore points, so its recovery restores the last known good set)`,
    );
  try {
    const bound = await boundDevices(settings.devices!, settings.store!);
    if (bound.length < settings.corruptDeviceThreshold)
      lacks.push(
        `at least ${settings.corruptDeviceThreshold} device(s) (${at}.driverStore.corruptDeviceThreshold) bound to a package of the driver store ${settings.store} in ${at}.driverStore.devices; ${bound.length} are`,
      );
  } catch (err) {
    lacks.push(
      `a readable device-status file (${at}.driverStore.devices ${settings.devices}: ${(err as Error).message})`,
    );
  }
  return lacks;
}

/** Copies a file or folder with its modes and mtimes; links and special files are skipped, named. */
async function copyKeeping(
  from: string,
  to: string,
  mapping: SandboxMapping,
  skipped: Skipped[],
  leaveOut: Map<string, string>,
  beat: (details: Record<string, unknown>) => void,
): Promise<void> {
  const reason = leaveOut.get(from);
  if (reason) {
    skipped.push({ path: from, reason });
    return;
  }
  const st = await fsp.lstat(from);
  if (st.isDirectory()) {
    await fsp.mkdir(to, { recursive: true });
    for (const name of (await fsp.readdir(from)).sort())
      await copyKeeping(path.join(from, name), path.join(to, name), mapping, skipped, leaveOut, beat);
  } else if (st.isFile()) {
    await fsp.mkdir(path.dirname(to), { recursive: true });
    await fsp.rm(to, { force: true });
    await fsp.copyFile(from, to, fs.constants.COPYFILE_FICLONE);
    mapping.files += 1;
    mapping.bytes += st.size;
    beat({ phase: 'sandbox', files: mapping.files, current: from });
  } else {
    skipped.push({
      path: from,
      reason: st.isSymbolicLink()
        ? 'a symbolic link (a sandbox never points back into production)'
        : 'not a regular file',
    });
    return;
  }
  // Last: writing a folder's entries changed its mtime.
  await fsp.chmod(to, st.mode & 0o7777);
  await fsp.utimes(to, st.atimeMs / 1000, st.mtimeMs / 1000);
}

/**
 * Copies the driver store's folder, its device-status file and its backups (but the restore points
 * and the pre-update backups) into `<sandbox>/fs/...`, for the derived target's `directory` store.
 */
export async function copyDriverStore(
  target: TargetConfig,
  sandbox: string,
): Promise<{ mapping: SandboxMapping[]; skipped: Skipped[] }> {
  const settings = target.driverStore!;
  const points = path.join(settings.backups, 'restore-points');
  const leaveOut = new Map([
    [
      points,
      "restore points: System Restore is a person's to run (it restarts the machine), so a drill restores the last known good driver backup set instead",
    ],
    [
      path.join(settings.backups, 'pre-update'),
      'pre-update backups: the driver store recovery does not use them',
    ],
  ]);
  const skipped: Skipped[] = [];
  const mapping: SandboxMapping[] = [];
  const beat = heartbeater();
  for (const production of [settings.store!, settings.devices!, settings.backups]) {
    const entry: SandboxMapping = {
      production,
      sandbox: sandboxPath(sandbox, production),
      kind: 'missing',
      files: 0,
      bytes: 0,
      linked: 0,
      databases: 0,
    };
    mapping.push(entry);
    const st = await fsp.lstat(production).catch(() => undefined);
    if (!st) continue;
    entry.kind = st.isDirectory() ? 'directory' : 'file';
    await copyKeeping(production, entry.sandbox, entry, skipped, leaveOut, beat);
  }
  // Restore points copied with a folder that holds the backups are no drill's either.
  await fsp.rm(sandboxPath(sandbox, points), { recursive: true, force: true });
  return { mapping, skipped };
}

/** Overwrites bytes in the middle of the package's largest file; the INF last, so it still parses. */
async function overwritePackage(dir: string, before: string): Promise<string> {
  const files = await Promise.all(
    (await fsp.readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile())
      .map(async (e) => ({ name: e.name, size: (await fsp.stat(path.join(dir, e.name))).size })),
  );
  const victim = files
    .filter((f) => f.size > 0)
    .sort(
      (a, b) =>
        Number(a.name.toLowerCase().endsWith('.inf')) - Number(b.name.toLowerCase().endsWith('.inf')) ||
        b.size - a.size,
    )[0];
  if (!victim) {
    await fsp.rm(dir, { recursive: true, force: true });
    return 'deleted: it held no file to damage';
  }
  const file = path.join(dir, victim.name);
  const bytes = await fsp.readFile(file);
  const at = Math.floor(bytes.length / 2);
  const n = Math.min(DAMAGE.length, bytes.length - at);
  DAMAGE.copy(bytes, at, 0, n);
  // Damage that happens to equal the file as it was is no damage: the complement is.
  if ((await writeAndDigest(file, bytes, dir)) === before) {
    for (let i = at; i < at + n; i += 1) bytes[i] = ~bytes[i] & 0xff;
    await writeAndDigest(file, bytes, dir);
  }
  return `bytes overwritten in ${victim.name}`;
}

async function writeAndDigest(file: string, bytes: Buffer, dir: string): Promise<string> {
  const { mode } = await fsp.stat(file);
  await fsp.chmod(file, (mode & 0o7777) | 0o200);
  await fsp.writeFile(file, bytes);
  await fsp.chmod(file, mode & 0o7777);
  return treeDigest(dir);
}

/**
 * The disaster, in the sandbox's copies (`target` is the derived target): the state written down
 * first, so that a retry after a crash damages the same packages and compares with the same state.
 */
export async function damageDriverStore(target: TargetConfig, sandbox: string): Promise<string[]> {
  const settings = target.driverStore!;
  const store = settings.store!;
  const devicesFile = settings.devices!;
  const beforeFile = path.join(sandbox, DRIVERS_BEFORE);
  let before: DriversBefore;
  if (await exists(beforeFile)) before = JSON.parse(await fsp.readFile(beforeFile, 'utf8')) as DriversBefore;
  else {
    const bound = await boundDevices(devicesFile, store);
    const threshold = settings.corruptDeviceThreshold;
    if (bound.length < threshold)
      throw stopFailure(
        'AmbiguousTarget',
        `the sandbox's device-status file ${devicesFile} has ${bound.length} device(s) bound to a package of the store ${store}; a corruptedDriverStore drill damages the packages of at least driverStore.corruptDeviceThreshold (${threshold})`,
      );
    const victims = bound.slice(0, threshold);
    const damaged: DriversBefore['damaged'] = [];
    for (const d of victims)
      if (!damaged.some((p) => p.name === d.driver))
        damaged.push({ name: d.driver, how: damaged.length % 2 === 0 ? 'deleted' : 'bytes overwritten' });
    before = {
      takenAt: new Date().toISOString(),
      packages: await digests(store),
      damaged,
      // 39: the driver is corrupted or missing; 31: Windows cannot load it.
      marked: victims.map((d) => ({
        instanceId: d.instanceId,
        driver: d.driver,
        problemCode: damaged.find((p) => p.name === d.driver)!.how === 'deleted' ? 39 : 31,
      })),
    };
    await writeFileAtomic(beforeFile, `${JSON.stringify(before, null, 2)}\n`);
  }
  const done: string[] = [];
  for (const { name, how } of before.damaged) {
    const dir = path.join(store, name);
    if (!(await exists(dir))) done.push(`${name} (deleted)`);
    else if (how === 'deleted') {
      await fsp.rm(dir, { recursive: true, force: true });
      done.push(`${name} (deleted)`);
    } else done.push(`${name} (${await overwritePackage(dir, before.packages[name])})`);
  }
  const doc = await readDeviceDoc(devicesFile);
  for (const m of before.marked) {
    const device = doc.devices.find((d) => d.instanceId === m.instanceId);
    if (!device) continue;
    device.problemCode = m.problemCode;
    delete device.status;
  }
  await writeFileAtomic(devicesFile, `${JSON.stringify(doc, null, 2)}\n`);
  return [
    `damaged ${done.length} package(s) of the sandbox's driver store ${store}: ${done.join(', ')}`,
    `marked ${before.marked.length} device(s) in the sandbox's device-status file ${devicesFile}: ${before.marked.map((m) => `${m.instanceId}: problem code ${m.problemCode}`).join(', ')}`,
  ];
}

/**
 * The sandbox after corruptedDriverStore: every device at problem code 0 (none at 31 or 39), every
 * package of the store back with the files it had before the disaster, restored from the sandbox's
 * copy of a driver backup set. The data recovered is as old as that set.
 */
export async function driverStoreChecks(
  target: TargetConfig,
  sandbox: string,
  recovery: RecoveryReport,
): Promise<ScenarioChecks> {
  const settings = target.driverStore!;
  const beforeFile = path.join(sandbox, DRIVERS_BEFORE);
  if (!(await exists(beforeFile)))
    return {
      checks: [check('driverFilesRestored', false, `${beforeFile} is missing: no state to compare with`)],
    };
  const before = JSON.parse(await fsp.readFile(beforeFile, 'utf8')) as DriversBefore;
  let devicesCheck;
  try {
    const devices = await createDriverStore(target).listDevices();
    const failing = devices.filter((d) => d.problemCode !== 0);
    const corrupt = failing.filter((d) => CORRUPT_CODES.includes(d.problemCode));
    devicesCheck = check(
      'devicesWorking',
      failing.length === 0,
      failing.length
        ? `${failing.length} of ${devices.length} device(s) of the sandbox's device scan still report a problem (${corrupt.length} with code 31 or 39): ${deviceList(failing)}`
        : `all ${devices.length} device(s) of the sandbox's device scan (${settings.devices}) report problem code 0; none 31 or 39`,
    );
  } catch (err) {
    devicesCheck = check(
      'devicesWorking',
      false,
      `the sandbox's device scan failed: ${(err as Error).message}`,
    );
  }
  const now = await digests(settings.store!);
  const missing = Object.keys(before.packages).filter((name) => now[name] === undefined);
  const differ = Object.keys(before.packages).filter(
    (name) => now[name] !== undefined && now[name] !== before.packages[name],
  );
  const added = Object.keys(now).filter((name) => before.packages[name] === undefined);
  const total = Object.keys(before.packages).length;
  const set = fieldOf<string>(recovery.result, 'set');
  const setsCopy = setsRoot(settings.backups);
  const fromCopy = !!set && path.dirname(set) === setsCopy && (await exists(set));
  const createdAt = set ? (await readManifest(set))?.createdAt : undefined;
  return {
    checks: [
      devicesCheck,
      check(
        'driverFilesRestored',
        missing.length === 0 && differ.length === 0,
        missing.length || differ.length
          ? `${missing.length} package(s) of the store missing (${missing.join(', ') || 'none'}), ${differ.length} with other files than before the disaster (${differ.join(', ') || 'none'}); the last driver backup set does not hold them as they were: run driverBackup`
          : `all ${total} package(s) of the store are back with the files they had before the disaster (damaged: ${before.damaged.map((d) => `${d.name}, ${d.how}`).join('; ')})${added.length ? `; added from the set: ${added.join(', ')}` : ''}`,
      ),
      check(
        'restoredFromDriverSet',
        fromCopy,
        fromCopy
          ? `the drivers came back from the sandbox's copy of the driver backup set ${set}`
          : `the recovery restored no set from the sandbox's copy of the driver backups (${setsCopy}): ${set ?? 'no set'}`,
      ),
    ],
    ...(set ? { backup: { id: path.basename(set), createdAt } } : {}),
    dataAsOf: createdAt,
  };
}
