/**
 * Sizes for people, in binary units (1 KiB = 1024 bytes), the one way Lifeboat writes them: in the
 * CLI's listings and progress lines and in STOP messages about disk space. Pure.
 *
 * @example
 * formatBytes(3 * 1024 ** 3, 'GiB', 2); // '3.00 GiB'
 * humanBytes(1536); // '1.5 KiB'
 */

const UNITS = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as const;
export type ByteUnit = keyof typeof UNITS;

/** `bytes` in `unit`, with `digits` decimals. */
export function formatBytes(bytes: number, unit: ByteUnit, digits = 1): string {
  return `${(bytes / UNITS[unit]).toFixed(digits)} ${unit}`;
}

/** A size for people: bytes below a KiB, KiB below a MiB, else MiB. */
export function humanBytes(bytes: number): string {
  if (bytes < UNITS.KiB) return `${bytes} B`;
  return formatBytes(bytes, bytes >= UNITS.MiB ? 'MiB' : 'KiB');
}
