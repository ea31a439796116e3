/**
 * The restore points Windows keeps, as the pnputil adapter reads them: `Get-ComputerRestorePoint`
 * through PowerShell, as JSON, filtered to those Lifeboat made (their description starts `Lifeboat`).
 */
import { LIFEBOAT_RESTORE_POINT, type LifeboatRestorePoint } from './types';

/** The PowerShell argv that lists the restore points as JSON: always an array, even of one or none. */
export function restorePointListArgs(): string[] {
  return [
    '-NoProfile',
    '-NonInteractive',
    '-Command',
    'ConvertTo-Json -Compress -InputObject @(Get-ComputerRestorePoint -ErrorAction Stop | Select-Object SequenceNumber, Description, CreationTime)',
  ];
}

/** WMI's `yyyymmddHHMMSS.ffffff±UUU` (Get-ComputerRestorePoint's CreationTime) or a JSON date → ISO 8601. */
export function restorePointTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const wmi = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?([+-]\d{3})?$/.exec(value);
  if (wmi) {
    const [, y, mo, d, h, mi, sec, offset] = wmi;
    const utc = Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec) - Number(offset ?? 0) * 60000;
    return new Date(utc).toISOString();
  }
  const ms = /^\/Date\((-?\d+)\)\/$/.exec(value);
  const at = ms ? Number(ms[1]) : Date.parse(value);
  return Number.isNaN(at) ? undefined : new Date(at).toISOString();
}

/** The restore points Lifeboat made, from `restorePointListArgs()`'s output, newest first. */
export function parseLifeboatRestorePoints(text: string): LifeboatRestorePoint[] {
  const trimmed = text.trim();
  const parsed: unknown = trimmed === '' ? [] : JSON.parse(trimmed);
  const list = (Array.isArray(parsed) ? parsed : [parsed]) as Record<string, unknown>[];
  return list
    .filter((p) => typeof p?.Description === 'string' && LIFEBOAT_RESTORE_POINT.test(p.Description))
    .map((p) => ({
      description: p.Description as string,
      createdAt: restorePointTime(p.CreationTime),
      sequenceNumber: typeof p.SequenceNumber === 'number' ? p.SequenceNumber : undefined,
    }))
    .sort((a, b) => (b.sequenceNumber ?? 0) - (a.sequenceNumber ?? 0));
}
