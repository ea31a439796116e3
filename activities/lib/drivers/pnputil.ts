/**
 * The `pnputil` adapter: Windows' driver store through the real PnPUtil commands, and restore
 * points through PowerShell's `Checkpoint-Computer`. Every call runs without a shell, within
 * `driverStore.timeoutSeconds`; a failure, a time-out or output that says nothing was done is a STOP
 * (`CommandFailed`) with the program's own last lines.
 *
 * The parsers read PnPUtil's documented report: a "Microsoft PnP Utility" header, then blocks of
 * `Key:   value` lines separated by blank lines.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { DriverStoreSettings } from '../../../config';
import { stopFailure } from '../../errors';
import { CancelledFailure } from '@temporalio/common';
import { lastLines, runCommand, type CommandResult } from '../commands';
import { activitySignal } from '../context';
import type {
  AddDriverResult,
  DeviceState,
  DriverPackage,
  DriverStore,
  LifeboatRestorePoint,
  RestorePointResult,
  StoreHooks,
} from './types';
import { parseLifeboatRestorePoints, restorePointListArgs } from './restorePoints';

/** One block of `Key: value` lines, keys as printed (`Published Name`, `Problem Code`, …). */
export type PnputilBlock = Record<string, string>;

const KEY_LINE = /^\s*([A-Za-z][A-Za-z0-9 ()/.'-]*?)\s*:\s*(.*?)\s*$/;

/** Splits PnPUtil's report into blocks of fields; lines without a `Key:` (the header, notes) are left out. */
export function parsePnputilBlocks(text: string): PnputilBlock[] {
  const blocks: PnputilBlock[] = [];
  let current: PnputilBlock | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      current = undefined;
      continue;
    }
    const m = KEY_LINE.exec(line);
    if (!m) continue;
    if (!current) {
      current = {};
      blocks.push(current);
    }
    // A second `Published Name:` in one block starts a new record (some versions omit the blank line).
    if (m[1] in current && (m[1] === 'Published Name' || m[1] === 'Instance ID')) {
      current = {};
      blocks.push(current);
    }
    current[m[1]] = m[2];
  }
  return blocks;
}

/** `pnputil /enum-drivers` → the third-party driver packages in the store. */
export function parseDriverList(text: string): DriverPackage[] {
  return parsePnputilBlocks(text)
    .filter((b) => b['Published Name'])
    .map((b) => ({
      publishedName: b['Published Name'],
      originalName: b['Original Name'] ?? '',
      provider: b['Provider Name'] ?? '',
      className: b['Class Name'] ?? '',
      version: b['Driver Version'] ?? '',
    }));
}

/** The number in `28 (0x1C) [CM_PROB_FAILED_INSTALL]` (or in `0x1C`). */
export function parseProblemCode(value: string): number | undefined {
  const decimal = /^\s*(\d+)\b(?!x)/i.exec(value);
  if (decimal) return Number(decimal[1]);
  const hex = /0x([0-9a-f]+)/i.exec(value);
  return hex ? parseInt(hex[1], 16) : undefined;
}

/** `pnputil /enum-devices …` → devices; a device without a `Problem Code:` line has problem code 0. */
export function parseDeviceList(text: string): DeviceState[] {
  return parsePnputilBlocks(text)
    .filter((b) => b['Instance ID'])
    .map((b) => {
      const problem = b['Problem Code'];
      const device: DeviceState = {
        instanceId: b['Instance ID'],
        description: b['Device Description'] ?? '',
        status: b['Status'] ?? 'Unknown',
        problemCode: problem === undefined ? 0 : (parseProblemCode(problem) ?? 0),
      };
      if (b['Class Name']) device.className = b['Class Name'];
      if (b['Driver Name']) device.driver = b['Driver Name'];
      if (problem !== undefined) device.problem = problem;
      return device;
    });
}

/** PnPUtil's answer when a device query matches nothing. */
export function saysNoDevices(text: string): boolean {
  return /no devices (were )?found/i.test(text);
}

export interface AddDriverReport {
  publishedNames: string[];
  total?: number;
  added?: number;
  failures: string[];
  rebootNeeded: boolean;
}

function summaryNumber(text: string, label: RegExp): number | undefined {
  const m = new RegExp(`^\\s*${label.source}\\s*:\\s*(\\d+)`, 'im').exec(text);
  return m ? Number(m[1]) : undefined;
}

function failureLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => /^failed to\b/i.test(l) || /^error\b/i.test(l));
}

/** `pnputil /add-driver … /install` → published names, totals, failures, whether a reboot is needed. */
export function parseAddDriver(text: string): AddDriverReport {
  const publishedNames = parsePnputilBlocks(text)
    .flatMap((b) => (b['Published Name'] ? [b['Published Name']] : []))
    .filter((n, i, all) => all.indexOf(n) === i);
  return {
    publishedNames,
    total: summaryNumber(text, /Total driver packages/),
    added: summaryNumber(text, /Added driver packages/),
    failures: failureLines(text),
    rebootNeeded: /reboot is needed|restart is required|system reboot/i.test(text),
  };
}

/** `<inf> (<pnputil's failure line>)` for each package `/add-driver` reports it did not add. */
export function notAddedPackages(text: string): string[] {
  const missing: string[] = [];
  let adding: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const m = /^Adding driver package\s*:\s*(\S.*)$/i.exec(line);
    if (m) adding = m[1];
    else if (adding && failureLines(line).length > 0) {
      missing.push(`${adding} (${line})`);
      adding = undefined;
    }
  }
  return missing;
}

export interface ExportReport {
  /** Published names reported as exported. */
  exported: string[];
  total?: number;
  exportedCount?: number;
  failures: string[];
}

/** `pnputil /export-driver <oem#.inf | *> <dir>` → what was exported and what failed. */
export function parseExport(text: string): ExportReport {
  const exported: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const m = /^\s*Exporting driver package\s*:\s*(\S+)/i.exec(line);
    if (!m) return;
    const next = lines.slice(i + 1).find((l) => l.trim() !== '') ?? '';
    if (/exported successfully/i.test(next)) exported.push(m[1]);
  });
  return {
    exported,
    total: summaryNumber(text, /Total driver packages/),
    exportedCount: summaryNumber(text, /Exported driver packages/),
    failures: failureLines(text),
  };
}

/** A restore point description PowerShell cannot misread: no quotes, no `$`, at most 200 characters. */
export function sanitizeDescription(description: string): string {
  return description
    .replace(/[^A-Za-z0-9 ._:()#,/-]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
}

/** The PowerShell argv (after the program) that makes a restore point. */
export function checkpointArgs(description: string): string[] {
  return [
    '-NoProfile',
    '-NonInteractive',
    '-Command',
    // -ErrorAction Stop: without it a failed checkpoint is a non-terminating error and exits 0.
    `Checkpoint-Computer -Description '${sanitizeDescription(description)}' -RestorePointType MODIFY_SETTINGS -ErrorAction Stop`,
  ];
}

export class PnputilStore implements DriverStore {
  readonly adapter = 'pnputil' as const;
  readonly restoreHint =
    'run System Restore (rstrui.exe) to the restore point made before the update, then retry to re-check the device, or stop';

  constructor(
    private readonly settings: DriverStoreSettings,
    private readonly hooks: StoreHooks = {},
  ) {}

  private async run(
    key: 'pnputil' | 'powershell',
    args: string[],
    opts: { okCodes?: number[] | 'any'; emptyOk?: boolean; hint?: string } = {},
  ): Promise<CommandResult & { output: string }> {
    const program = this.settings[key];
    const shown = `${key} ${args.join(' ')}`;
    let ran: CommandResult;
    try {
      ran = await runCommand(
        { argv: [program, ...args], timeoutSeconds: this.settings.timeoutSeconds },
        {
          keepOutput: true,
          onProgress: () => this.hooks.onProgress?.({ command: shown }),
          signal: activitySignal(),
        },
      );
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? `'${program}' was not found${path.basename(program) === program ? ' on PATH' : ''}`
          : (err as Error).message;
      throw stopFailure(
        'CommandFailed',
        `cannot run ${key} (driverStore.${key}): ${why}; install it or set driverStore.${key} to its path, then retry`,
      );
    }
    const result = { ...ran, output: ran.output ?? '' };
    if (result.cancelled) throw new CancelledFailure(`${shown} was ended: the step was cancelled`);
    const tail = lastLines(result.output).join(' | ');
    if (result.timedOut) {
      throw stopFailure(
        'CommandFailed',
        `${shown} timed out after ${this.settings.timeoutSeconds}s (driverStore.timeoutSeconds) and was ended${tail ? `: ${tail}` : ''}; check the host, then retry or stop`,
      );
    }
    const ok = opts.okCodes ?? [0];
    if (result.exitCode === null || (ok !== 'any' && !ok.includes(result.exitCode))) {
      if (opts.emptyOk && saysNoDevices(result.output)) return result;
      throw stopFailure(
        'CommandFailed',
        `${shown} exited with ${result.exitCode ?? result.signal}${tail ? `: ${tail}` : ''}${opts.hint ? `; ${opts.hint}` : ''}`,
      );
    }
    return result;
  }

  async listDrivers(): Promise<DriverPackage[]> {
    return parseDriverList((await this.run('pnputil', ['/enum-drivers'])).output);
  }

  async listDevices(): Promise<DeviceState[]> {
    // 259 (ERROR_NO_MORE_ITEMS): nothing matched.
    const result = await this.run('pnputil', ['/enum-devices'], { okCodes: [0, 259], emptyOk: true });
    return parseDeviceList(result.output);
  }

  async problemDevices(): Promise<DeviceState[]> {
    const result = await this.run('pnputil', ['/enum-devices', '/problem'], {
      okCodes: [0, 259],
      emptyOk: true,
    });
    return parseDeviceList(result.output);
  }

  async findDevice(instanceId: string): Promise<DeviceState | undefined> {
    const result = await this.run('pnputil', ['/enum-devices', '/instanceid', instanceId], {
      okCodes: [0, 259],
      emptyOk: true,
    });
    const wanted = instanceId.toLowerCase();
    const device = parseDeviceList(result.output).find((d) => d.instanceId.toLowerCase() === wanted);
    if (device && device.problem === undefined && !/^(started|running)$/i.test(device.status)) {
      // Not started and no code shown: the problem list says which code it has (none listed: 0).
      const listed = (await this.problemDevices()).find((d) => d.instanceId.toLowerCase() === wanted);
      if (listed) Object.assign(device, { problemCode: listed.problemCode, problem: listed.problem });
    }
    return device;
  }

  private checkExport(result: { output: string }, what: string): void {
    const report = parseExport(result.output);
    if (report.failures.length > 0 || (report.exported.length === 0 && report.exportedCount === undefined)) {
      const why = report.failures.length ? report.failures.join(' | ') : lastLines(result.output).join(' | ');
      throw stopFailure('CommandFailed', `pnputil could not export ${what}: ${why || 'it reported nothing'}`);
    }
  }

  async exportDriver(publishedName: string, destDir: string): Promise<void> {
    await fsp.mkdir(destDir, { recursive: true });
    const result = await this.run('pnputil', ['/export-driver', publishedName, destDir]);
    this.checkExport(result, publishedName);
  }

  async exportAll(destDir: string): Promise<void> {
    await fsp.mkdir(destDir, { recursive: true });
    const result = await this.run('pnputil', ['/export-driver', '*', destDir]);
    this.checkExport(result, 'the driver store');
  }

  async addDriver(packageDir: string, _device: string): Promise<AddDriverResult> {
    // 3010 (ERROR_SUCCESS_REBOOT_REQUIRED): added and installed; finishes at the next reboot.
    const result = await this.run(
      'pnputil',
      ['/add-driver', path.join(packageDir, '*.inf'), '/subdirs', '/install'],
      { okCodes: [0, 3010] },
    );
    const report = parseAddDriver(result.output);
    if (report.publishedNames.length === 0 || report.added === 0) {
      const why = report.failures.length ? report.failures.join(' | ') : lastLines(result.output).join(' | ');
      throw stopFailure(
        'CommandFailed',
        `pnputil added no driver package from ${packageDir}: ${why || 'it reported nothing'}`,
      );
    }
    return {
      publishedNames: report.publishedNames,
      rebootRequired: result.exitCode === 3010 || report.rebootNeeded,
      output: lastLines(result.output, 10),
    };
  }

  async addDriverSet(setDir: string): Promise<AddDriverResult> {
    // Procedure 000 §3.2 step 5: `pnputil /add-driver {dir}\*.inf /install /subdirs`.
    // Any exit code: a partial add exits with a failure code, and the report says which were not added.
    const result = await this.run(
      'pnputil',
      ['/add-driver', path.join(setDir, '*.inf'), '/subdirs', '/install'],
      { okCodes: 'any' },
    );
    const report = parseAddDriver(result.output);
    const missing = notAddedPackages(result.output);
    const exitOk = result.exitCode === 0 || result.exitCode === 3010;
    const short = report.total !== undefined && report.added !== undefined && report.added < report.total;
    if (!exitOk || report.publishedNames.length === 0 || report.failures.length > 0 || short) {
      const why = missing.length
        ? `not added: ${missing.join(', ')}`
        : report.failures.length
          ? report.failures.join(' | ')
          : lastLines(result.output).join(' | ');
      throw stopFailure(
        'CommandFailed',
        `pnputil added ${report.added ?? 0} of ${report.total ?? '?'} driver package(s) from ${setDir}${exitOk ? '' : ` (exit code ${result.exitCode})`}: ${why || 'it reported nothing'}; packages already added are recognised on a retry. Retry, or stop`,
      );
    }
    return {
      publishedNames: report.publishedNames,
      rebootRequired: result.exitCode === 3010 || report.rebootNeeded,
      output: lastLines(result.output, 10),
    };
  }

  async latestRestorePoint(): Promise<LifeboatRestorePoint | undefined> {
    const result = await this.run('powershell', restorePointListArgs(), {
      hint: 'System Restore may be unavailable on this host: skip to restore from the last driver backup set instead',
    });
    try {
      return parseLifeboatRestorePoints(result.output)[0];
    } catch (err) {
      throw stopFailure(
        'CommandFailed',
        `powershell Get-ComputerRestorePoint did not answer in JSON (${(err as Error).message}): ${lastLines(result.output).join(' | ')}`,
      );
    }
  }

  systemRestoreHint(point: LifeboatRestorePoint): string {
    const which =
      point.sequenceNumber !== undefined ? `restore point ${point.sequenceNumber} ` : 'the restore point ';
    return `run System Restore (rstrui.exe) to ${which}"${point.description}"${point.createdAt ? ` made ${point.createdAt}` : ''} (choose "Show more restore points" if it is not offered), let the machine restart, then retry to re-check the devices, or stop`;
  }

  async createRestorePoint(description: string, _tag: string): Promise<RestorePointResult> {
    const result = await this.run('powershell', checkpointArgs(description), {
      hint: 'System Protection may be off for the system drive: turn it on and retry, or skip to go on without a restore point',
    });
    const clean = sanitizeDescription(description);
    // Windows makes at most one restore point per 24 hours by default and only warns about it.
    if (/already been created within the past/i.test(result.output)) {
      return { created: false, description: clean, note: lastLines(result.output, 2).join(' ') };
    }
    return { created: true, description: clean };
  }
}
