/**
 * Driver store fixtures (procedure 000): realistic driver packages (an INF with its [Version],
 * models and strings, a .sys and a .cat), devices that use them, and update packages — one good,
 * one that leaves the device with problem code 28, one folder that is no driver package.
 *
 * - `writeDriversDemo(dir)` writes a `directory`-adapter target (store folder, device-status file,
 *   update packages, a rescan script) and returns its config, for `npm run up` and the tests; with
 *   `{ recoverySets: true }` (the `npm run up` demo) also a full driver backup set under its
 *   `sets/` and one on a stand-in external drive, named `usb` in `driverStore.restoreSets`.
 * - `driversDrillCommands(dir)`: the rescan command a drill of that target runs on its sandbox.
 * - `writeDriverSet(dir, specs)` writes a full driver backup set as driverBackup leaves one.
 * - `writePnputilStandinState(dir)` writes the same store as the state of the stand-in `pnputil`
 *   (test/standins/pnputil), for the tests of the `pnputil` adapter.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const NIC = 'PCI\\VEN_8086&DEV_15BC&SUBSYS_08B21028&REV_10\\3&11583659&0&FE';
export const AUDIO = 'HDAUDIO\\FUNC_01&VEN_10EC&DEV_0295&SUBSYS_102808B2&REV_1000\\4&2C8D2C0E&0&0001';
export const KEYBOARD = 'ACPI\\PNP0303\\4&1D401FB5&0';
export const USB_ETHERNET = 'USB\\VID_0BDA&PID_8153\\000001000000';

const CLASS_GUIDS: Record<string, string> = {
  Net: '{4d36e972-e325-11ce-bfc1-08002be10318}',
  MEDIA: '{4d36e96c-e325-11ce-bfc1-08002be10318}',
  USB: '{36fc9e60-c465-11cf-8056-444553540000}',
  Keyboard: '{4d36e96b-e325-11ce-bfc1-08002be10318}',
};

export interface PackageSpec {
  /** The INF's file name (pnputil's "Original Name"). */
  inf: string;
  className: string;
  provider: string;
  date: string;
  version: string;
  hardwareId: string;
  description: string;
  /** Extra INF comment lines, e.g. `; standin-problem-code=28` (read by the stand-ins and the demo rescan). */
  markers?: string[];
}

export const NETDRV_1_0: PackageSpec = {
  inf: 'netdrv.inf',
  className: 'Net',
  provider: 'Contoso Ltd.',
  date: '01/15/2025',
  version: '1.0.0.0',
  hardwareId: 'PCI\\VEN_8086&DEV_15BC',
  description: 'Contoso Gigabit Network Connection',
};
export const NETDRV_1_1: PackageSpec = { ...NETDRV_1_0, date: '06/02/2025', version: '1.1.0.0' };
export const NETDRV_2_0_BROKEN: PackageSpec = {
  ...NETDRV_1_0,
  date: '09/30/2025',
  version: '2.0.0.0',
  markers: ['; standin-problem-code=28'],
};
export const CTXAUDIO: PackageSpec = {
  inf: 'ctxaudio.inf',
  className: 'MEDIA',
  provider: 'Contoso Audio',
  date: '03/11/2024',
  version: '6.0.9000.1',
  hardwareId: 'HDAUDIO\\FUNC_01&VEN_10EC&DEV_0295',
  description: 'Contoso High Definition Audio',
};
/** The USB LAN adapter's driver: in no store, only in the demo's backup sets. */
export const RTL8153: PackageSpec = {
  inf: 'rtux64w10.inf',
  className: 'Net',
  provider: 'Realtek',
  date: '08/14/2024',
  version: '10.68.0.0',
  hardwareId: 'USB\\VID_0BDA&PID_8153',
  description: 'Realtek USB GbE Family Controller',
};
export const CTXUSBF: PackageSpec = {
  inf: 'ctxusbf.inf',
  className: 'USB',
  provider: 'Contoso Ltd.',
  date: '11/20/2023',
  version: '2.3.1.0',
  hardwareId: 'USB\\VID_04B4&PID_0008',
  description: 'Contoso USB Serial Adapter',
};

/** The INF text of a package: the sections pnputil and Windows read, in their usual layout. */
export function infText(spec: PackageSpec): string {
  const stem = path.parse(spec.inf).name;
  const section = `${stem.toUpperCase()}_Install`;
  return [
    `; ${spec.inf} - ${spec.description}`,
    `; Copyright (c) ${spec.provider}`,
    ...(spec.markers ?? []),
    '',
    '[Version]',
    'Signature   = "$WINDOWS NT$"',
    `Class       = ${spec.className}`,
    `ClassGuid   = ${CLASS_GUIDS[spec.className]}`,
    'Provider    = %ProviderName%',
    `DriverVer   = ${spec.date},${spec.version}`,
    `CatalogFile = ${stem}.cat`,
    'PnpLockdown = 1',
    '',
    '[Manufacturer]',
    '%ProviderName% = Contoso, NTamd64.10.0',
    '',
    '[Contoso.NTamd64.10.0]',
    `%DeviceDesc% = ${section}, ${spec.hardwareId}`,
    '',
    `[${section}.NT]`,
    `CopyFiles = ${stem}_CopyFiles`,
    '',
    `[${section}.NT.Services]`,
    `AddService = ${stem}, 0x00000002, ${stem}_Service`,
    '',
    `[${stem}_Service]`,
    'ServiceType   = 1',
    'StartType     = 3',
    'ErrorControl  = 1',
    `ServiceBinary = %13%\\${stem}.sys`,
    '',
    `[${stem}_CopyFiles]`,
    `${stem}.sys`,
    '',
    '[DestinationDirs]',
    `${stem}_CopyFiles = 13`,
    '',
    '[SourceDisksNames]',
    '1 = %DiskName%',
    '',
    '[SourceDisksFiles]',
    `${stem}.sys = 1`,
    '',
    '[Strings]',
    `ProviderName = "${spec.provider}"`,
    `DeviceDesc   = "${spec.description}"`,
    `DiskName     = "${spec.description} Installation Disk"`,
    '',
  ].join('\r\n');
}

/** Deterministic bytes standing in for a driver binary. */
function binary(seed: string, size: number): Buffer {
  const chunks: Buffer[] = [Buffer.from('MZ')];
  let at = 2;
  let block = createHash('sha256').update(seed).digest();
  while (at < size) {
    chunks.push(block);
    at += block.length;
    block = createHash('sha256').update(block).digest();
  }
  return Buffer.concat(chunks).subarray(0, size);
}

/** Writes a driver package (INF, .sys, .cat) into `dir`. */
export function writeDriverPackage(dir: string, spec: PackageSpec): void {
  const stem = path.parse(spec.inf).name;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, spec.inf), infText(spec));
  fs.writeFileSync(path.join(dir, `${stem}.sys`), binary(`${spec.inf} ${spec.version} sys`, 24 * 1024));
  fs.writeFileSync(path.join(dir, `${stem}.cat`), binary(`${spec.inf} ${spec.version} cat`, 2 * 1024));
}

/** The update packages both kinds of target offer. */
export function writeDriverUpdates(dir: string): void {
  writeDriverPackage(path.join(dir, 'netdrv-1.1.0.0'), NETDRV_1_1);
  writeDriverPackage(path.join(dir, 'netdrv-2.0.0.0-broken'), NETDRV_2_0_BROKEN);
  fs.mkdirSync(path.join(dir, 'release-notes'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'release-notes', 'README.txt'), 'Contoso driver release notes\n');
}

/**
 * The demo's `rescan` command: re-reads every device's driver package and sets its problem code
 * (from a `; standin-problem-code=<n>` line in the package's INF, else 0) — standing in for the
 * host's own device scan. Args: <devices.json> <store folder>.
 */
export const RESCAN_SCRIPT = `'use strict';
const fs = require('node:fs');
const path = require('node:path');
const [devicesFile, store] = process.argv.slice(2);
const doc = JSON.parse(fs.readFileSync(devicesFile, 'utf8'));
for (const device of doc.devices) {
  const dir = device.driver ? path.join(store, device.driver) : undefined;
  if (!dir || !fs.existsSync(dir)) continue;
  let code = 0;
  for (const f of fs.readdirSync(dir).filter((n) => n.toLowerCase().endsWith('.inf'))) {
    const m = /;\\s*standin-problem-code=(\\d+)/i.exec(fs.readFileSync(path.join(dir, f), 'utf8'));
    if (m) code = Number(m[1]);
  }
  device.problemCode = code;
}
const tmp = devicesFile + '.' + process.pid + '.tmp';
fs.writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\\n');
fs.renameSync(tmp, devicesFile);
console.log('rescanned ' + doc.devices.length + ' devices');
`;

interface DeviceSpec {
  instanceId: string;
  description: string;
  className: string;
  manufacturer: string;
  hardwareIds: string[];
  problemCode: number;
}

const DEVICES: (DeviceSpec & { package?: PackageSpec; inbox?: string })[] = [
  {
    instanceId: NIC,
    description: 'Contoso Gigabit Network Connection',
    className: 'Net',
    manufacturer: 'Contoso Ltd.',
    hardwareIds: ['PCI\\VEN_8086&DEV_15BC&SUBSYS_08B21028&REV_10', 'PCI\\VEN_8086&DEV_15BC'],
    problemCode: 0,
    package: NETDRV_1_0,
  },
  {
    instanceId: AUDIO,
    description: 'Contoso High Definition Audio',
    className: 'MEDIA',
    manufacturer: 'Contoso Audio',
    hardwareIds: ['HDAUDIO\\FUNC_01&VEN_10EC&DEV_0295'],
    problemCode: 0,
    package: CTXAUDIO,
  },
  {
    instanceId: KEYBOARD,
    description: 'Standard PS/2 Keyboard',
    className: 'Keyboard',
    manufacturer: '(Standard keyboards)',
    hardwareIds: ['ACPI\\PNP0303'],
    problemCode: 0,
    inbox: 'keyboard.inf',
  },
  {
    instanceId: USB_ETHERNET,
    description: 'USB 10/100/1000 LAN',
    className: 'Net',
    manufacturer: 'Realtek',
    hardwareIds: ['USB\\VID_0BDA&PID_8153'],
    problemCode: 28,
  },
];

/** A store folder name for a package in the directory adapter: `<inf stem>-<version>`. */
export function directoryName(spec: PackageSpec): string {
  return `${path.parse(spec.inf).name}-${spec.version}`;
}

/**
 * A full driver backup set in `dir` as driverBackup leaves one: a folder per package (named as the
 * directory adapter publishes it) and `driver-backup.json` listing them.
 */
export function writeDriverSet(
  dir: string,
  specs: PackageSpec[],
  createdAt = '2025-01-01T00:00:00.000Z',
): void {
  for (const spec of specs) writeDriverPackage(path.join(dir, directoryName(spec)), spec);
  const manifest = {
    kind: 'set',
    createdAt,
    createdBy: 'demo',
    adapter: 'directory',
    drivers: specs.map((spec) => ({
      publishedName: directoryName(spec),
      originalName: spec.inf,
      provider: spec.provider,
      className: spec.className,
      version: `${spec.date} ${spec.version}`,
    })),
    packages: specs.length,
  };
  fs.writeFileSync(path.join(dir, 'driver-backup.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** A `directory`-adapter target under `dir`; returns its config (absolute paths). */
export function writeDriversDemo(
  dir: string,
  options: { recoverySets?: boolean } = {},
): Record<string, unknown> {
  const store = path.join(dir, 'driver-store');
  const devices = path.join(dir, 'devices.json');
  const updates = path.join(dir, 'updates');
  const backups = path.join(dir, 'driver-backups');
  for (const spec of [NETDRV_1_0, CTXAUDIO, CTXUSBF])
    writeDriverPackage(path.join(store, directoryName(spec)), spec);
  writeDriverUpdates(updates);
  fs.mkdirSync(backups, { recursive: true });
  fs.writeFileSync(
    devices,
    `${JSON.stringify(
      {
        devices: DEVICES.map((d) => ({
          instanceId: d.instanceId,
          description: d.description,
          className: d.className,
          hardwareIds: d.hardwareIds,
          driver: d.package ? directoryName(d.package) : d.inbox,
          problemCode: d.problemCode,
        })),
      },
      null,
      2,
    )}\n`,
  );
  const restoreSets: Record<string, string> = {};
  if (options.recoverySets) {
    // What was backed up before the OS reinstall: the store's packages and the USB LAN adapter's.
    const specs = [NETDRV_1_0, CTXAUDIO, CTXUSBF, RTL8153];
    writeDriverSet(path.join(backups, 'sets', '20250101T000000Z-demo'), specs);
    restoreSets.usb = path.join(dir, 'external-drive', 'driver-backups');
    writeDriverSet(restoreSets.usb, specs, '2025-02-01T00:00:00.000Z');
  }
  const rescan = path.join(dir, 'rescan-devices.js');
  fs.writeFileSync(rescan, RESCAN_SCRIPT);
  return {
    description: 'A driver store kept as a folder of driver packages (procedure 000)',
    commands: { rescanDevices: { argv: [process.execPath, rescan, devices, store], timeoutSeconds: 30 } },
    driverStore: {
      adapter: 'directory',
      store,
      devices,
      updates,
      backups,
      rescan: 'rescanDevices',
      minFreeBytes: 64 * 1024 * 1024,
      keepSets: 2,
      timeoutSeconds: 60,
      settleSeconds: 2,
      ...(options.recoverySets ? { restoreSets } : {}),
    },
  };
}

/**
 * The commands a drill of `writeDriversDemo(dir)`'s target runs instead of the target's own (the
 * corruptedDriverStore drill): the same rescan script, told to rescan the sandbox's copies of the
 * device-status file and the store (`{sandbox}/fs/<path>`), so production's are only ever read.
 */
export function driversDrillCommands(
  dir: string,
): Record<string, { argv: string[]; timeoutSeconds: number }> {
  const abs = path.resolve(dir);
  const inSandbox = (p: string) => path.join('{sandbox}', 'fs', p);
  return {
    rescanDevices: {
      argv: [
        process.execPath,
        path.join(abs, 'rescan-devices.js'),
        inSandbox(path.join(abs, 'devices.json')),
        inSandbox(path.join(abs, 'driver-store')),
      ],
      timeoutSeconds: 30,
    },
  };
}

/** The stand-in pnputil's digest of a package folder (flat): SHA-256 over name, NUL and bytes. */
function standinDigest(dir: string): string {
  const hash = createHash('sha256');
  for (const name of fs.readdirSync(dir).sort()) {
    hash.update(`${name}\0`).update(fs.readFileSync(path.join(dir, name)));
  }
  return hash.digest('hex');
}

/**
 * The state of the stand-in `pnputil`: oem3.inf (netdrv 1.0, used by the network adapter),
 * oem5.inf (audio), oem8.inf (unused USB package), an inbox-driver keyboard and a device with
 * problem code 28. Returns the state file's path (for PNPUTIL_STANDIN_STATE).
 */
export function writePnputilStandinState(dir: string): string {
  const repository = path.join(dir, 'FileRepository');
  const packages = [
    { published: 'oem3.inf', spec: NETDRV_1_0 },
    { published: 'oem5.inf', spec: CTXAUDIO },
    { published: 'oem8.inf', spec: CTXUSBF },
  ].map(({ published, spec }) => {
    const staging = path.join(dir, '.staging', spec.inf);
    writeDriverPackage(staging, spec);
    const digest = standinDigest(staging);
    const folder = `${spec.inf}_amd64_${digest.slice(0, 16)}`;
    fs.mkdirSync(repository, { recursive: true });
    fs.renameSync(staging, path.join(repository, folder));
    return {
      publishedName: published,
      originalName: spec.inf,
      provider: spec.provider,
      className: spec.className,
      classGuid: CLASS_GUIDS[spec.className],
      version: `${spec.date} ${spec.version}`,
      folder,
      digest,
      spec,
    };
  });
  fs.rmSync(path.join(dir, '.staging'), { recursive: true, force: true });
  const state = {
    nextOem: 9,
    packages: packages.map(({ spec: _spec, ...p }) => p),
    devices: DEVICES.map((d) => ({
      instanceId: d.instanceId,
      description: d.description,
      className: d.className,
      classGuid: CLASS_GUIDS[d.className],
      manufacturer: d.manufacturer,
      hardwareIds: d.hardwareIds,
      driver: d.package ? packages.find((p) => p.spec === d.package)!.publishedName : d.inbox,
      problemCode: d.problemCode,
    })),
  };
  const file = path.join(dir, 'pnputil-state.json');
  fs.writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`);
  return file;
}
