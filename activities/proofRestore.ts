/**
 * What a proof-only restore (procedure 004, Restore 2) needs beyond a subset restore: the path,
 * relative to the storage root, of one day's proof file, checked to be inside the root and held by
 * the backup.
 */
import * as path from 'node:path';
import type { LifeboatConfig } from '../config';
import { catalogNameOf, resolveBackupId, type Catalogs } from './backupShared';
import { invalidInput, stopFailure } from './errors';
import { restorableTarget } from './restore';
import { sectionOf } from './targets';

export function createProofRestoreActivities(config: LifeboatConfig, catalogs: Catalogs) {
  return {
    /** `proof/<day>.json` relative to the root, and the backup (default: the newest) that holds it. */
    async findProofInBackup(
      targetName: string,
      day: string,
      which: string,
    ): Promise<{ path: string; backupId: string }> {
      const target = restorableTarget(config, targetName);
      const proofs = sectionOf(config, targetName, 'panic').proofs;
      const folder = path.relative(target.root, proofs).split(path.sep).join('/');
      if (folder === '' || folder.startsWith('..') || path.isAbsolute(folder))
        throw invalidInput(
          `the proof folder ${proofs} of target '${targetName}' is not inside its root ${target.root}, so no backup of the root holds it`,
        );
      const file = `${folder}/${day}.json`;
      const catalog = catalogs.of(target);
      const backupId = resolveBackupId(catalog, catalogNameOf(target), which);
      const manifest = catalog.manifest(backupId);
      if (!manifest) throw stopFailure('MissingManifest', `backup ${backupId} is not in the catalog`);
      if (!manifest.files.some((f) => f.path === file)) {
        const days = manifest.files
          .filter((f) => f.path.startsWith(`${folder}/`))
          .map((f) => path.posix.basename(f.path, '.json'));
        throw invalidInput(
          `backup ${backupId} holds no proof file for ${day} (${file}); it holds ${days.length ? `${days[0]} to ${days[days.length - 1]}` : 'no proof files'}`,
        );
      }
      return { path: file, backupId };
    },
  };
}
