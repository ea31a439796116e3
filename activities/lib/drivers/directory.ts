/**
 * The `directory` adapter, for hosts without pnputil: the driver store is a folder of driver
 * packages (one folder per package, named as the store publishes it, holding its `.inf` and
 * binaries) and the devices are a JSON file
 * `{"devices": [{"instanceId", "description", "driver", "problemCode"}]}`.
 *
 * Installing copies the package into the store atomically (temp folder, then rename; a different
 * package of the same name is moved aside into `.lifeboat-replaced/`, never deleted), binds the
 * device (atomic rewrite of the devices file) and runs the target's `rescan` command, which
 * refreshes the devices file with what the host really sees. A restore point is a copy of the store
 * and the devices file under `<backups>/restore-points/<tag>/`.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { CommandSettings, DriverStoreSettings } from '../../../config';
import { stopFailure } from '../../errors';
import { runCheckedCommand } from '../commands';
import { exists, fsyncDir, writeFileAtomic } from '../files';
import { parseInfVersion } from './inf';
import { copyTree, isDirectory, listTree, treeDigest } from './tree';
import type {
  AddDriverResult,
  DeviceState,
  DriverPackage,
  DriverStore,
  LifeboatRestorePoint,
  RestorePointResult,
  StoreHooks,
} from './types';

interface DeviceRecord {
  instanceId: string;
  description?: string;
  className?: string;
  driver?: string;
  problemCode?: number;
  status?: string;
  [other: string]: unknown;
}

const REPLACED = '.lifeboat-replaced';

function isHidden(name: string): boolean {
  return name.startsWith('.');
}

function stateOf(d: DeviceRecord): DeviceState {
  const problemCode = typeof d.problemCode === 'number' ? d.problemCode : 0;
  const device: DeviceState = {
    instanceId: d.instanceId,
    description: d.description ?? '',
    status: d.status ?? (problemCode === 0 ? 'Started' : 'Problem'),
    problemCode,
  };
  if (d.className) device.className = d.className;
  if (d.driver) device.driver = d.driver;
  return device;
}

export class DirectoryStore implements DriverStore {
  readonly adapter = 'directory' as const;
  readonly restoreHint: string;
  private readonly store: string;
  private readonly devicesFile: string;

  constructor(
    private readonly settings: DriverStoreSettings,
    private readonly commands: Record<string, CommandSettings>,
    private readonly hooks: StoreHooks = {},
  ) {
    this.store = settings.store!;
    this.devicesFile = settings.devices!;
    this.restoreHint = `put back the store folder and the device-status file from the copy made before the update (newest under ${path.join(settings.backups, 'restore-points')}), then retry to re-check the device, or stop`;
  }

  private async readDevices(): Promise<{ doc: Record<string, unknown>; devices: DeviceRecord[] }> {
    let text: string;
    try {
      text = await fsp.readFile(this.devicesFile, 'utf8');
    } catch (err) {
      throw stopFailure(
        'IntegrityFailure',
        `cannot read the device-status file ${this.devicesFile} (driverStore.devices): ${(err as Error).message}`,
      );
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw stopFailure(
        'IntegrityFailure',
        `the device-status file ${this.devicesFile} is not valid JSON; it must be {"devices": [{"instanceId": …, "driver": …, "problemCode": 0}]}`,
      );
    }
    const devices = (doc as { devices?: unknown } | null)?.devices;
    if (
      !Array.isArray(devices) ||
      devices.some((d) => typeof (d as DeviceRecord | null)?.instanceId !== 'string')
    ) {
      throw stopFailure(
        'IntegrityFailure',
        `the device-status file ${this.devicesFile} must hold {"devices": [...]} with an "instanceId" on every device`,
      );
    }
    return { doc: doc as Record<string, unknown>, devices: devices as DeviceRecord[] };
  }

  async listDrivers(): Promise<DriverPackage[]> {
    let entries;
    try {
      entries = await fsp.readdir(this.store, { withFileTypes: true });
    } catch (err) {
      throw stopFailure(
        'IntegrityFailure',
        `cannot read the driver store folder ${this.store} (driverStore.store): ${(err as Error).message}`,
      );
    }
    const packages: DriverPackage[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || isHidden(entry.name)) continue;
      const dir = path.join(this.store, entry.name);
      const inf = (await fsp.readdir(dir)).find((f) => f.toLowerCase().endsWith('.inf'));
      const version = inf
        ? parseInfVersion(await fsp.readFile(path.join(dir, inf), 'utf8'))
        : { className: '', provider: '', version: '' };
      packages.push({ publishedName: entry.name, originalName: inf ?? '', ...version });
    }
    return packages.sort((a, b) => (a.publishedName < b.publishedName ? -1 : 1));
  }

  async listDevices(): Promise<DeviceState[]> {
    return (await this.readDevices()).devices.map(stateOf);
  }

  async findDevice(instanceId: string): Promise<DeviceState | undefined> {
    const wanted = instanceId.toLowerCase();
    return (await this.listDevices()).find((d) => d.instanceId.toLowerCase() === wanted);
  }

  async problemDevices(): Promise<DeviceState[]> {
    return (await this.listDevices()).filter((d) => d.problemCode !== 0);
  }

  private async packageFolder(publishedName: string): Promise<string> {
    const dir = path.join(this.store, publishedName);
    if (publishedName.includes('/') || publishedName.includes('\\') || !(await isDirectory(dir))) {
      throw stopFailure(
        'IntegrityFailure',
        `driver package ${publishedName} is not in the store folder ${this.store}`,
      );
    }
    return dir;
  }

  async exportDriver(publishedName: string, destDir: string): Promise<void> {
    const from = await this.packageFolder(publishedName);
    await copyTree(from, destDir, { onFile: (file) => this.hooks.onProgress?.({ file }) });
  }

  async exportAll(destDir: string): Promise<void> {
    await fsp.mkdir(destDir, { recursive: true });
    for (const pkg of await this.listDrivers()) {
      await copyTree(path.join(this.store, pkg.publishedName), path.join(destDir, pkg.publishedName), {
        onFile: (file) => this.hooks.onProgress?.({ file }),
      });
    }
    await fsyncDir(destDir);
  }

  /** Copies one package into the store (same name, other bytes: the old one moved aside); says what it did. */
  private async addPackage(packageDir: string, stamp: string, output: string[]): Promise<string> {
    const name = path.basename(packageDir);
    const final = path.join(this.store, name);
    await fsp.mkdir(this.store, { recursive: true });
    const same = (await isDirectory(final)) && (await treeDigest(final)) === (await treeDigest(packageDir));
    if (same) {
      output.push(`${name} is already in the store`);
    } else {
      const tmp = path.join(this.store, `.${name}.${process.pid}-${stamp}.lifeboat-tmp`);
      await fsp.rm(tmp, { recursive: true, force: true });
      await copyTree(packageDir, tmp, { onFile: (file) => this.hooks.onProgress?.({ file }) });
      if (await exists(final)) {
        // A different package of the same name: kept aside, never deleted.
        const aside = path.join(this.store, REPLACED, `${name}.${stamp}`);
        await fsp.mkdir(path.dirname(aside), { recursive: true });
        await fsp.rename(final, aside);
        output.push(`the package it replaced is kept in ${aside}`);
      }
      await fsp.rename(tmp, final);
      await fsyncDir(this.store);
      output.push(`added ${name} to the store`);
    }
    return name;
  }

  async addDriver(packageDir: string, device: string): Promise<AddDriverResult> {
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    const output: string[] = [];
    const name = await this.addPackage(packageDir, stamp, output);

    const { doc, devices } = await this.readDevices();
    const wanted = device.toLowerCase();
    const record = devices.find((d) => d.instanceId.toLowerCase() === wanted);
    if (!record) {
      throw stopFailure('IntegrityFailure', `device ${device} is no longer in ${this.devicesFile}`);
    }
    record.driver = name;
    if (!this.settings.rescan) {
      // Without a rescan command nothing tells us otherwise: the install is taken to have worked.
      record.problemCode = 0;
      delete record.status;
    }
    await writeFileAtomic(this.devicesFile, `${JSON.stringify(doc, null, 2)}\n`, `${process.pid}-${stamp}`);
    output.push(`bound ${device} to ${name}`);

    await this.rescan(output);
    return { publishedNames: [name], rebootRequired: false, output };
  }

  private async rescan(output: string[]): Promise<void> {
    if (!this.settings.rescan) return;
    const command = this.commands[this.settings.rescan];
    await runCheckedCommand(`rescan command '${this.settings.rescan}'`, command, {
      onProgress: () => this.hooks.onProgress?.({ command: this.settings.rescan }),
    });
    output.push(`rescan '${this.settings.rescan}' refreshed ${this.devicesFile}`);
  }

  /**
   * Like `pnputil /add-driver <set>\*.inf /subdirs /install`: every package folder of the set goes
   * into the store, and a device whose `hardwareIds` (in the device-status file) a package's INF
   * names is bound to it, unless it already uses one of the packages that name it.
   */
  async addDriverSet(setDir: string): Promise<AddDriverResult> {
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    const output: string[] = [];
    const folders = (await fsp.readdir(setDir, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && !isHidden(e.name))
      .map((e) => e.name)
      .sort();
    const infs = new Map<string, string>();
    for (const folder of folders) {
      const name = await this.addPackage(path.join(setDir, folder), stamp, output);
      const texts = await Promise.all(
        (await listTree(path.join(this.store, name)))
          .filter((f) => f.path.toLowerCase().endsWith('.inf'))
          .map((f) => fsp.readFile(path.join(this.store, name, ...f.path.split('/')), 'utf8')),
      );
      infs.set(name, texts.join('\n').toLowerCase());
    }

    const { doc, devices } = await this.readDevices();
    for (const record of devices) {
      const ids = Array.isArray(record.hardwareIds) ? (record.hardwareIds as unknown[]) : [];
      const matching = [...infs.keys()].filter((name) =>
        ids.some((id) => typeof id === 'string' && infs.get(name)!.includes(id.toLowerCase())),
      );
      if (matching.length === 0 || matching.includes(record.driver ?? '')) continue;
      record.driver = matching[0];
      if (!this.settings.rescan) {
        record.problemCode = 0;
        delete record.status;
      }
      output.push(`bound ${record.instanceId} to ${matching[0]}`);
    }
    await writeFileAtomic(this.devicesFile, `${JSON.stringify(doc, null, 2)}\n`, `${process.pid}-${stamp}`);
    await this.rescan(output);
    return { publishedNames: [...infs.keys()], rebootRequired: false, output };
  }

  async latestRestorePoint(): Promise<LifeboatRestorePoint | undefined> {
    const points = path.join(this.settings.backups, 'restore-points');
    let entries;
    try {
      entries = await fsp.readdir(points, { withFileTypes: true });
    } catch {
      return undefined;
    }
    const found: LifeboatRestorePoint[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || isHidden(entry.name)) continue;
      const where = path.join(points, entry.name);
      try {
        const meta = JSON.parse(await fsp.readFile(path.join(where, 'restore-point.json'), 'utf8')) as {
          description?: unknown;
          createdAt?: unknown;
        };
        if (typeof meta.description !== 'string' || typeof meta.createdAt !== 'string') continue;
        found.push({ description: meta.description, createdAt: meta.createdAt, where });
      } catch {
        // Not a finished restore point: createRestorePoint writes restore-point.json before the rename.
      }
    }
    return found.sort((a, b) => (a.createdAt! < b.createdAt! ? 1 : a.createdAt! > b.createdAt! ? -1 : 0))[0];
  }

  systemRestoreHint(point: LifeboatRestorePoint): string {
    return `put back the store folder ${this.store} from ${path.join(point.where ?? '', 'store')} and the device-status file ${this.devicesFile} from ${path.join(point.where ?? '', path.basename(this.devicesFile))} (the restore point "${point.description}" made ${point.createdAt}), then retry to re-check the devices, or stop`;
  }

  async createRestorePoint(description: string, tag: string): Promise<RestorePointResult> {
    const points = path.join(this.settings.backups, 'restore-points');
    const folder = path.join(points, tag);
    if (await exists(folder)) return { created: true, description, where: folder };
    const partial = path.join(points, `.${tag}.partial`);
    await fsp.rm(partial, { recursive: true, force: true });
    await copyTree(this.store, path.join(partial, 'store'), {
      skip: isHidden,
      onFile: (file) => this.hooks.onProgress?.({ file }),
    });
    await fsp.copyFile(this.devicesFile, path.join(partial, path.basename(this.devicesFile)));
    await writeFileAtomic(
      path.join(partial, 'restore-point.json'),
      `${JSON.stringify(
        {
          description,
          createdAt: new Date().toISOString(),
          store: this.store,
          devices: this.devicesFile,
        },
        null,
        2,
      )}\n`,
    );
    await fsp.rename(partial, folder);
    await fsyncDir(points);
    return { created: true, description, where: folder };
  }
}
