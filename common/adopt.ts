/**
 * What adoption (adoptRepository, and restore on a host whose catalog lacks the target's backups)
 * reports, and its one-line summary for a gate's reason. Shared by activities, runbooks and the CLI;
 * no Node imports.
 */
export type RepositoryName = 'repository' | 'offsite';

export interface AdoptedBackup {
  backupId: string;
  kind: 'full' | 'incremental';
  parent: string | null;
  createdAt: string;
  from: RepositoryName;
  archive: string;
  /** Fingerprint of the signing key, when the sidecar was signed. */
  signedBy?: string;
}

export interface AdoptReport {
  target: string;
  /** Which copies the adopted backups came from. */
  used: RepositoryName | 'both' | 'none';
  repositories: { name: RepositoryName; folder: string; readable: boolean; problem?: string }[];
  adopted: AdoptedBackup[];
  /** Already in the catalog with the same archive: nothing to do. */
  present: string[];
  /** `kind`: `legacy` (made before signed sidecars) and `chain` (a parent missing) are not signs of tampering. */
  refused: {
    backupId?: string;
    file: string;
    reason: string;
    from: RepositoryName;
    kind?: 'legacy' | 'chain';
  }[];
  /** Removed by retention on this host: still in a repository, not brought back. */
  removedByRetention: string[];
  /** Backups whose two copies differ, and which one was used. */
  disagreements: string[];
  /** Sidecars of other targets in the same folders, by target. */
  otherTargets: Record<string, number>;
  /** Archives that no sidecar names (never adopted). */
  orphans: string[];
  /** The newest backup of the target that can now be restored (its chain complete). */
  newestRestorable?: string;
}

/** The refusals, a few of them, in one line. */
export function describeRefusals(report: AdoptReport): string {
  const lines = report.refused.map(
    (r) => `${r.backupId ?? r.file.split(/[\\/]/).pop()} (${r.from}): ${r.reason}`,
  );
  return lines.slice(0, 8).join('; ') + (lines.length > 8 ? `; and ${lines.length - 8} more` : '');
}

/** One line for a gate's reason or a status: what was adopted from where, and what was refused. */
export function adoptSummary(report: AdoptReport): string {
  if (report.adopted.length === 0 && report.refused.length === 0)
    return report.present.length
      ? `the catalog already listed all ${report.present.length} backup(s) of '${report.target}'`
      : `no backup of '${report.target}' found`;
  const folder = (name: RepositoryName) => report.repositories.find((r) => r.name === name);
  const from =
    report.used === 'both'
      ? 'the repository and its offsite copy'
      : report.used === 'offsite'
        ? `the offsite copy ${folder('offsite')?.folder ?? ''}`
        : `the repository ${folder('repository')?.folder ?? ''}`;
  const unread = report.repositories.filter((r) => !r.readable).map((r) => r.problem);
  const parts = [
    report.adopted.length
      ? `adopted ${report.adopted.length} backup(s) from ${from} (${report.adopted.map((a) => a.backupId).join(', ')})`
      : 'adopted no backup',
  ];
  if (unread.length) parts.push(unread.join('; '));
  if (report.refused.length) parts.push(`refused ${report.refused.length}: ${describeRefusals(report)}`);
  if (report.disagreements.length) parts.push(report.disagreements.join('; '));
  return parts.join('; ');
}
