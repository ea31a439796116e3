/**
 * What happens to a target's backups once written: retention removes the old ones from the
 * repository (sidecar first), and the offsite copy puts one beside the repository's, checked by its
 * hash. Neither is ever done by a drill (refuseInDrill): both act on the main catalog.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { planRetention, type RetentionPlan } from '../common/retention';
import type { LifeboatConfig } from '../config';
import { backupTarget, refuseInDrill, type Catalogs } from './backupShared';
import { invalidInput, stopFailure } from './errors';
import { activitySignal, withHeartbeats } from './lib/context';
import { exists, fsyncDir, fsyncFile, hashFile } from './lib/files';
import { archiveFile, sidecarFile, signatureFile } from './lib/sidecar';

export function createBackupCopyActivities(config: LifeboatConfig, catalogs: Catalogs) {
  const catalog = catalogs.main;
  return {
    /** Applies the target's retention; `dryRun` only says what would go. */
    async applyRetention(
      targetName: string,
      dryRun: boolean,
    ): Promise<RetentionPlan & { removedFiles: string[] }> {
      const target = backupTarget(config, targetName, ['repository']);
      refuseInDrill(target, 'retention');
      const entries = catalog.list(targetName);
      const plan = planRetention(
        entries.map((e) => ({
          backupId: e.backupId,
          createdAt: e.createdAt,
          kind: e.kind,
          parent: e.parent ?? undefined,
          verified: e.verifyOk === 1,
        })),
        target.retention ?? {},
        new Date(),
      );
      const removedFiles: string[] = [];
      if (!dryRun) {
        for (const item of plan.remove) {
          // The sidecar first: a backup is never seen with its sidecar but without its archive.
          for (const file of [
            sidecarFile(target.repository, item.backupId),
            archiveFile(target.repository, item.backupId),
            signatureFile(target.repository, item.backupId),
          ]) {
            if (await exists(file)) {
              await fsp.rm(file);
              removedFiles.push(file);
            }
          }
          catalog.markRemoved(item.backupId);
        }
        await fsyncDir(target.repository);
      }
      return { ...plan, removedFiles };
    },

    /** Copies a backup to the target's offsite repository and checks the copy by its hash. */
    async replicateOffsite(
      targetName: string,
      backupId: string,
    ): Promise<{ copied: string[] } | { skipped: true }> {
      const target = backupTarget(config, targetName, ['repository']);
      if (!target.offsite) return { skipped: true };
      refuseInDrill(target, 'an offsite copy');
      const entry = catalog.get(backupId);
      if (!entry) throw invalidInput(`no backup '${backupId}' in the catalog`);
      await fsp.mkdir(target.offsite, { recursive: true });
      const copied: string[] = [];
      // The sidecar last: a sidecar in the offsite folder means its archive and signature are there.
      const names = [`${backupId}.lbk`, `${backupId}.json.asc`, `${backupId}.json`];
      const sizes = await Promise.all(
        names.map((n) =>
          fsp.stat(path.join(target.repository!, n)).then(
            (st) => st.size,
            () => 0,
          ),
        ),
      );
      const totalBytes = sizes.reduce((a, b) => a + b, 0);
      // Why heartbeats: the step's heartbeat timeout is 30 s, and a large archive takes longer to
      // copy, sync and hash twice; a stop cancels the copy and removes its partial file.
      await withHeartbeats(
        { phase: 'offsite', backupId, files: 0, total: names.length, bytes: 0, totalBytes },
        async (beat) => {
          let bytes = 0;
          for (const name of names) {
            const from = path.join(target.repository!, name);
            if (name.endsWith('.asc') && !(await exists(from))) continue;
            const to = path.join(target.offsite!, name);
            const tmp = path.join(target.offsite!, `.${name}.partial`);
            try {
              const source = fs.createReadStream(from);
              source.on('data', (chunk) => {
                bytes += chunk.length;
                beat({
                  phase: 'offsite',
                  backupId,
                  current: name,
                  files: copied.length,
                  total: names.length,
                  bytes,
                  totalBytes,
                });
              });
              await pipeline(source, fs.createWriteStream(tmp), { signal: activitySignal() });
              await fsyncFile(tmp);
              const [a, b] = await Promise.all([hashFile(from), hashFile(tmp)]);
              if (a.sha256 !== b.sha256)
                throw stopFailure(
                  'ChecksumMismatch',
                  `the offsite copy of ${name} does not match the original`,
                );
              await fsp.rename(tmp, to);
            } catch (err) {
              await fsp.rm(tmp, { force: true });
              throw err;
            }
            copied.push(to);
          }
        },
      );
      await fsyncDir(target.offsite);
      catalog.recordOffsite(backupId, path.join(target.offsite, `${backupId}.lbk`));
      return { copied };
    },
  };
}
