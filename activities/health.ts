/**
 * `checkTargetHealth` (procedure 002, Monitoring and Alerts → Health Checks): the state of a
 * target's backups against the thresholds in its `healthCheck` section and the RPO in its
 * `objectives`. It reports; it never changes anything.
 *
 * - A `store` target: the primary and its `.meta` are present, the primary verifies against it,
 *   enough backups (warning), enough valid backups (warning; none valid is critical), free space in
 *   the primary's folder (critical), the newest valid backup within the RPO (critical).
 * - A target with a backup `repository`: its backups in the catalog, those whose archive is present
 *   and whose last verification passed, free space in the repository, the newest one's age.
 */
import * as path from 'node:path';
import { formatBytes } from '../common/bytes';
import type { HealthThresholds, LifeboatConfig, StoreSettings, TargetConfig } from '../config';
import { invalidInput } from './errors';
import type { Catalog } from './lib/catalog';
import { exists } from './lib/files';
import { freeBytes } from './lib/replace';
import { inspectStoreFile, listBackups } from './store';
import { findTarget } from './targets';
import { heartbeat } from './lib/context';

export type HealthSeverity = 'critical' | 'warning';

export interface HealthIssue {
  severity: HealthSeverity;
  check: string;
  message: string;
}

export interface HealthCheckEntry {
  check: string;
  ok: boolean;
  value: unknown;
  threshold?: unknown;
  /** Why a check was not judged, or what it looked at. */
  note?: string;
}

export interface HealthReport {
  target: string;
  /** True when no check found an issue. */
  healthy: boolean;
  issues: HealthIssue[];
  checks: HealthCheckEntry[];
  checkedAt: string;
}

function gib(bytes: number): string {
  return formatBytes(bytes, 'GiB', 2);
}

/** Collects checks and the issues of those that fail. */
class Findings {
  readonly checks: HealthCheckEntry[] = [];
  readonly issues: HealthIssue[] = [];

  add(entry: HealthCheckEntry, failure?: { severity: HealthSeverity; message: string }): void {
    this.checks.push(entry);
    if (!entry.ok && failure) this.issues.push({ check: entry.check, ...failure });
  }

  /** At least `min`: a warning below it, critical at none when `noneIsCritical` and any are expected. */
  counted(check: string, count: number, min: number, what: string, noneIsCritical = false): void {
    this.add(
      { check, ok: count >= min, value: count, threshold: min },
      {
        severity: noneIsCritical && count === 0 && min > 0 ? 'critical' : 'warning',
        message: `low ${what} count: ${count} (at least ${min} expected)`,
      },
    );
  }

  freeSpace(check: string, dir: string, free: number, min: number): void {
    this.add(
      { check, ok: free >= min, value: free, threshold: min, note: dir },
      {
        severity: 'critical',
        message: `low disk space: ${gib(free)} free for ${dir} (at least ${gib(min)} expected)`,
      },
    );
  }

  /** The newest backup's age against the RPO; not judged without an RPO. */
  age(check: string, newest: { name: string; at: Date } | undefined, rpoMinutes: number | undefined): void {
    const ageMinutes = newest ? Math.round(((Date.now() - newest.at.getTime()) / 60000) * 10) / 10 : null;
    if (rpoMinutes === undefined) {
      this.add({
        check,
        ok: true,
        value: ageMinutes,
        threshold: null,
        note: "not judged: the target's objectives have no rpoMinutes",
      });
      return;
    }
    this.add(
      {
        check,
        ok: ageMinutes !== null && ageMinutes <= rpoMinutes,
        value: ageMinutes,
        threshold: rpoMinutes,
        note: newest?.name,
      },
      {
        severity: 'critical',
        message: newest
          ? `the newest valid backup ${newest.name} is ${ageMinutes} minutes old; the RPO is ${rpoMinutes} minutes`
          : `no valid backup: nothing to recover within the RPO of ${rpoMinutes} minutes`,
      },
    );
  }
}

/** `YYYY-MM-DDTHH:MM:SS` from a backup's name, read as the worker's local time (as it was written). */
function localTime(takenAt: string): Date {
  return new Date(takenAt);
}

async function checkStore(
  store: StoreSettings,
  thresholds: HealthThresholds,
  rpoMinutes: number | undefined,
  findings: Findings,
): Promise<void> {
  const primary = store.primary;
  const meta = `${primary}.meta`;
  const primaryPresent = await exists(primary);
  const metaPresent = await exists(meta);
  findings.add(
    { check: 'primaryPresent', ok: primaryPresent, value: primary },
    { severity: 'critical', message: `the primary ${primary} is missing` },
  );
  findings.add(
    { check: 'metaPresent', ok: metaPresent, value: meta },
    { severity: 'critical', message: `the primary's checksum sidecar ${meta} is missing` },
  );
  if (primaryPresent && metaPresent) {
    const verdict = await inspectStoreFile(primary, meta);
    findings.add(
      { check: 'primaryIntact', ok: verdict.valid, value: verdict.valid ? 'intact' : verdict.problem },
      {
        severity: 'critical',
        message: `corruption detected: the primary ${primary} fails its integrity check: ${verdict.problem}`,
      },
    );
  }

  const backups = await listBackups(store);
  findings.counted('backupCount', backups.length, thresholds.minBackups, 'backup');
  let valid = 0;
  let newestValid: { name: string; at: Date } | undefined;
  for (const [i, backup] of backups.entries()) {
    heartbeat({ checked: i, total: backups.length });
    const verdict = await inspectStoreFile(backup.file, backup.meta, backup.name);
    if (!verdict.valid) continue;
    valid += 1;
    // Newest first: the first valid one is the newest recovery point.
    newestValid ??= { name: backup.name, at: localTime(backup.takenAt) };
  }
  findings.counted('validBackupCount', valid, thresholds.minValidBackups, 'valid backup', true);
  findings.freeSpace(
    'freeSpace',
    path.dirname(primary),
    await freeBytes(path.dirname(primary)),
    thresholds.minFreeBytes,
  );
  findings.age('backupAge', newestValid, rpoMinutes);
}

async function checkRepository(
  target: TargetConfig,
  repository: string,
  catalog: Catalog,
  findings: Findings,
): Promise<void> {
  const thresholds = target.healthCheck;
  const entries = catalog.list(target.name);
  findings.counted('repositoryBackupCount', entries.length, thresholds.minBackups, 'repository backup');
  let valid = 0;
  let newestValid: { name: string; at: Date } | undefined;
  for (const entry of entries) {
    // Valid: the archive is still there and its last verification passed.
    if (entry.verifyOk !== 1 || !(await exists(entry.archive))) continue;
    valid += 1;
    newestValid ??= { name: entry.backupId, at: new Date(entry.createdAt) };
  }
  findings.counted(
    'repositoryValidBackupCount',
    valid,
    thresholds.minValidBackups,
    'verified repository backup',
    true,
  );
  findings.freeSpace('repositoryFreeSpace', repository, await freeBytes(repository), thresholds.minFreeBytes);
  findings.age('repositoryBackupAge', newestValid, target.objectives.rpoMinutes);
}

export function createHealthActivities(config: LifeboatConfig, catalog: Catalog) {
  return {
    /** Checks a target's backups against its thresholds and RPO; see the module comment. */
    async checkTargetHealth(targetName: string): Promise<HealthReport> {
      const target = findTarget(config, targetName);
      if (!target.store && !target.repository) {
        throw invalidInput(
          `target '${targetName}' has neither a 'store' section nor a 'repository' in the worker's config; healthCheck needs one of them`,
        );
      }
      const findings = new Findings();
      if (target.store)
        await checkStore(target.store, target.healthCheck, target.objectives.rpoMinutes, findings);
      if (target.repository) await checkRepository(target, target.repository, catalog, findings);
      return {
        target: targetName,
        healthy: findings.issues.length === 0,
        issues: findings.issues,
        checks: findings.checks,
        checkedAt: new Date().toISOString(),
      };
    },
  };
}
