/**
 * Adoption (DESIGN §4, §5): the catalog is a cache of the repositories, so a host with nothing but
 * the repository (or its offsite copy) and the keys rebuilds a target's catalog entries from it.
 * Every sidecar is read and its signature checked, every archive held to its sidecar and read
 * through, the incremental chains rebuilt; each backup is reported adopted, already present, or
 * refused with the reason. Nothing in a repository is ever written, and a repeat adopts nothing new.
 *
 * Which copy: the primary repository first; a backup that is missing or refused there is taken from
 * the offsite copy when that one verifies, and the report names the copy that was not used and why
 * (an offsite copy whose archive differs from the chosen copy's is named, and not recorded as the
 * backup's second copy).
 */
import type { LifeboatConfig } from '../config';
import { backupTarget, catalogNameOf, type BackupTarget, type Catalogs } from './backupShared';
import { invalidInput, stopFailure } from './errors';
import { restorableTarget } from './restore';
import type { Manifest } from './lib/archive';
import { heartbeater } from './lib/context';
import { KeyError } from './lib/crypto';
import {
  RepositoryError,
  archiveProblem,
  chainGaps,
  checkBackup,
  listRepository,
  type FoundBackup,
  type Refusal,
  type RepositoryListing,
} from './lib/repository';
import { catalogEntryOf, encryptionMode, trustedSigners } from './lib/sidecar';
import { describeRefusals, type AdoptReport, type RepositoryName } from '../common/adopt';

export type { AdoptReport };

/** The copy of a backup that verified, and a second copy to record when its archive is sound too. */
interface Chosen {
  found: FoundBackup;
  from: RepositoryName;
  files: number;
  bytes: number;
  manifest: Manifest;
  offsiteCopy?: string;
}

export function createAdoptActivities(config: LifeboatConfig, catalogs: Catalogs) {
  /**
   * Reads the repositories and decides, for every backup, adopted or refused; `commit()` records the
   * adopted ones in the catalog (nothing is recorded before it).
   */
  async function adopt(
    target: BackupTarget,
    from?: RepositoryName,
  ): Promise<{ report: AdoptReport; commit: () => AdoptReport }> {
    const catalog = catalogs.of(target);
    const name = catalogNameOf(target);
    const beat = heartbeater();
    let trusted;
    try {
      trusted = await trustedSigners(target.encryption);
    } catch (err) {
      if (err instanceof KeyError) throw stopFailure('KeyProblem', `target '${target.name}': ${err.message}`);
      throw err;
    }
    const rule = { mode: encryptionMode(target.encryption), trusted };
    const wanted: { name: RepositoryName; folder: string }[] = [];
    if (from !== 'offsite') wanted.push({ name: 'repository', folder: target.repository });
    if (from !== 'repository' && target.offsite) wanted.push({ name: 'offsite', folder: target.offsite });
    if (from === 'offsite' && !target.offsite)
      throw invalidInput(`target '${target.name}' has no offsite repository in the worker's config`);

    const report: AdoptReport = {
      target: name,
      used: 'none',
      repositories: [],
      adopted: [],
      present: [],
      refused: [],
      disagreements: [],
      otherTargets: {},
      orphans: [],
      removedByRetention: [],
    };
    const listings = new Map<RepositoryName, RepositoryListing>();
    for (const repo of wanted) {
      try {
        const listing = await listRepository(repo.folder, name, rule);
        listings.set(repo.name, listing);
        report.repositories.push({ ...repo, readable: true });
        for (const [t, n] of Object.entries(listing.otherTargets))
          report.otherTargets[t] = Math.max(report.otherTargets[t] ?? 0, n);
        report.orphans.push(...listing.orphans);
      } catch (err) {
        if (!(err instanceof RepositoryError)) throw err;
        report.repositories.push({ ...repo, readable: false, problem: err.message });
      }
    }
    if (listings.size === 0) {
      throw stopFailure(
        'NoValidBackup',
        `no repository of target '${target.name}' can be read: ${report.repositories.map((r) => r.problem).join('; ')}; mount or copy the repository (or its offsite copy) there and retry`,
      );
    }

    // Every backup id either copy knows, with what each copy says of it.
    const byId = new Map<string, Partial<Record<RepositoryName, FoundBackup | Refusal>>>();
    for (const [repo, listing] of listings) {
      for (const f of listing.found) byId.set(f.backupId, { ...byId.get(f.backupId), [repo]: f });
      for (const r of listing.refused) {
        const earlier = r.backupId ? byId.get(r.backupId)?.[repo] : undefined;
        // A second refusal of one id in one copy (two sidecars claiming it) is reported on its own.
        const refusedAlready = earlier !== undefined && !('sidecar' in earlier);
        if (r.backupId && !refusedAlready) byId.set(r.backupId, { ...byId.get(r.backupId), [repo]: r });
        else report.refused.push({ ...r, from: repo });
      }
    }
    const order = [...byId.entries()].sort(([a, x], [b, y]) => {
      const at = (v: typeof x) =>
        (Object.values(v).find((f) => f && 'sidecar' in f) as FoundBackup | undefined)?.sidecar.createdAt ??
        '';
      return at(x) < at(y) || (at(x) === at(y) && a < b) ? -1 : 1;
    });
    const ok = new Map<string, Chosen>();
    const refusedIds = new Map<string, string>();
    let done = 0;
    for (const [backupId, copies] of order) {
      beat({ phase: 'adopt', files: done, total: order.length, current: backupId });
      done += 1;
      const existing = catalog.get(backupId);
      const candidates = (['repository', 'offsite'] as RepositoryName[])
        .map((repo) => ({ repo, copy: copies[repo] }))
        .filter((c) => c.copy !== undefined);
      const sample = candidates.find((c) => 'sidecar' in c.copy!)?.copy as FoundBackup | undefined;
      if (existing?.removedAt && sample && existing.archiveSha256 === sample.sidecar.archiveSha256) {
        report.removedByRetention.push(backupId);
        continue;
      }
      if (
        existing &&
        !existing.removedAt &&
        sample &&
        existing.archiveSha256 === sample.sidecar.archiveSha256
      ) {
        report.present.push(backupId);
        continue;
      }
      if (existing && !existing.removedAt && sample) {
        refusedIds.set(backupId, 'the catalog already lists a different backup under this id');
        report.refused.push({
          backupId,
          file: sample.sidecarFile,
          from: candidates[0].repo,
          reason: `the catalog already lists a backup ${backupId} with another archive (SHA-256 ${existing.archiveSha256.slice(0, 16)}…); nothing was changed`,
        });
        continue;
      }
      const problems: string[] = [];
      let chosen: Chosen | undefined;
      for (const { repo, copy } of candidates) {
        if (!('sidecar' in copy!)) {
          problems.push(`${repo}: ${copy!.reason}`);
          continue;
        }
        if (chosen) {
          if (!copy.sidecarBytes.equals(chosen.found.sidecarBytes))
            report.disagreements.push(
              `backup ${backupId}: the ${repo} copy's sidecar differs from the ${chosen.from} copy's, which verifies and is used`,
            );
          else {
            // The same sidecar: its archive is sound when its bytes are the chosen copy's.
            const problem = await archiveProblem(copy);
            if (problem) problems.push(`${repo}: ${problem}`);
            else if (repo === 'offsite') chosen.offsiteCopy = copy.archive;
          }
          continue;
        }
        let checked;
        try {
          checked = await checkBackup(copy, target.encryption, (p) =>
            beat({
              phase: `adopt-${p.phase}`,
              files: done - 1,
              total: order.length,
              current: backupId,
              bytes: p.bytes,
              totalBytes: copy.sidecar.archiveSize,
            }),
          );
        } catch (err) {
          if (err instanceof KeyError)
            throw stopFailure(
              'KeyProblem',
              `backup ${backupId} of target '${target.name}' cannot be opened: ${err.message}; nothing was adopted`,
            );
          throw err;
        }
        if ('refused' in checked) problems.push(`${repo}: ${checked.refused}`);
        else
          chosen = {
            found: copy,
            from: repo,
            files: checked.files,
            bytes: checked.bytes,
            manifest: checked.manifest,
          };
      }
      if (chosen) {
        if (problems.length)
          report.disagreements.push(
            `backup ${backupId}: taken from the ${chosen.from} copy; ${problems.join('; ')}`,
          );
        ok.set(backupId, chosen);
      } else {
        const reason = problems.join('; ');
        refusedIds.set(backupId, reason);
        for (const { repo, copy } of candidates) {
          const file = 'sidecar' in copy! ? copy.sidecarFile : copy!.file;
          const own = problems.find((p) => p.startsWith(`${repo}: `))?.slice(repo.length + 2) ?? reason;
          const kind = 'sidecar' in copy! ? undefined : copy!.kind;
          report.refused.push({ backupId, file, from: repo, reason: own, ...(kind ? { kind } : {}) });
        }
      }
    }

    // Chains: an incremental is adopted only with every parent up to its full backup.
    const parentOf = (id: string) => ok.get(id)?.found.sidecar.parent ?? catalog.get(id)?.parent ?? undefined;
    const missing = (id: string) => {
      if (ok.has(id)) return undefined;
      const entry = catalog.get(id);
      if (entry && !entry.removedAt) return undefined;
      const why = refusedIds.get(id);
      return why ? `was refused (${why})` : 'is not in the repository';
    };
    const gaps = chainGaps([...ok.keys()], parentOf, missing);
    for (const [id, gap] of gaps) {
      const { found, from: repo } = ok.get(id)!;
      ok.delete(id);
      report.refused.push({ backupId: id, file: found.sidecarFile, from: repo, reason: gap, kind: 'chain' });
    }

    const commit = (): AdoptReport => {
      for (const [backupId, { found, files, bytes, manifest, offsiteCopy }] of ok) {
        const s = found.sidecar;
        const signedBy = found.verdict.status === 'signed' ? found.verdict.fingerprint : undefined;
        // The counts as the manifest read through has them.
        catalog.record(
          { ...catalogEntryOf(s, found.archive, 'adopted', signedBy, name), files, bytes },
          manifest,
        );
        if (offsiteCopy) catalog.recordOffsite(backupId, offsiteCopy);
      }
      report.newestRestorable = catalog.list(name)[0]?.backupId;
      if (report.newestRestorable) {
        for (const r of report.refused)
          if (/parent/.test(r.reason))
            r.reason += `; the newest backup with a complete chain is ${report.newestRestorable}`;
      }
      return report;
    };
    for (const [backupId, { found, from: repo }] of ok) {
      const s = found.sidecar;
      report.adopted.push({
        backupId,
        kind: s.kind,
        parent: s.parent,
        createdAt: s.createdAt,
        from: repo,
        archive: found.archive,
        signedBy: found.verdict.status === 'signed' ? found.verdict.fingerprint : undefined,
      });
    }
    const froms = new Set(report.adopted.map((a) => a.from));
    report.used = froms.size === 2 ? 'both' : froms.size === 1 ? [...froms][0] : 'none';
    return { report, commit };
  }

  return {
    /**
     * Rebuilds the target's catalog entries from its repository (`from` undefined: the primary,
     * falling back to the offsite copy per backup). With `requireOne`, finding nothing restorable is
     * a STOP naming every refusal (a restore cannot go on without a backup). With `refusalStops`, any
     * refusal is a STOP naming each one, and nothing is recorded: the procedure must not guess past
     * a backup it refused (a foreign signature may be an attack); a responder decides.
     */
    async adoptRepository(
      targetName: string,
      options: {
        from?: RepositoryName;
        requireOne?: boolean;
        onlyWhenEmpty?: boolean;
        refusalStops?: boolean;
      } = {},
    ): Promise<AdoptReport | { skipped: true; reason: string }> {
      // A restore's adoption (onlyWhenEmpty) refuses what a restore refuses, before reading anything.
      const target = options.onlyWhenEmpty
        ? restorableTarget(config, targetName)
        : backupTarget(config, targetName, ['repository', 'encryption']);
      const catalog = catalogs.of(target);
      // Checked first: a restore drill of a catalogued backup has nothing to adopt.
      if (options.onlyWhenEmpty && catalog.list(catalogNameOf(target)).length > 0)
        return { skipped: true, reason: `the catalog lists backups of '${catalogNameOf(target)}'` };
      if (target.sandbox && !target.ownCatalog)
        throw invalidInput(
          `target '${targetName}' is a drill sandbox that reads the catalog of '${catalogNameOf(target)}'; adopting into it would change production's records`,
        );
      const adoption = await adopt(target, options.from);
      // Backups from before signed sidecars and broken chains are reported; the rest may be an attack.
      const serious = adoption.report.refused.filter((r) => r.kind === undefined);
      if (options.refusalStops && serious.length) {
        const report = { ...adoption.report, refused: serious };
        throw stopFailure(
          'NoValidBackup',
          `${report.refused.length} backup file(s) of target '${targetName}' were refused and nothing was adopted: ${describeRefusals(report)}. Fix what is named and retry (a signing key you trust goes in encryption.trustedSigners), or skip to adopt only the ${report.adopted.length} backup(s) that verify${report.adopted.length ? ` (${report.adopted.map((a) => a.backupId).join(', ')})` : ''}`,
          { report },
        );
      }
      const report = adoption.commit();
      if (options.requireOne && !report.newestRestorable) {
        throw stopFailure(
          'NoValidBackup',
          `target '${targetName}' has no backups in the catalog and none could be adopted from ${report.repositories.map((r) => `${r.folder}${r.readable ? '' : ` (${r.problem})`}`).join(' or ')}${report.refused.length ? `: ${describeRefusals(report)}` : ''}`,
          { report },
        );
      }
      return report;
    },
  };
}
