/** Where the benchmark keeps each tool's files inside its work folder. */
import * as path from 'node:path';

export const TARGET = 'bench';
export const FULL_ID = 'bench-full';
export const INCREMENTAL_ID = 'bench-incr';

export function layout(workDir: string) {
  return {
    /** The generated data set: the one source every tool backs up. */
    root: path.join(workDir, 'data'),
    /** Every restore goes here (removed before each restore). */
    restoreDir: path.join(workDir, 'restore'),
    /** Lifeboat restores into <restoreDir>/<backupId>. */
    lifeboatRestored: path.join(workDir, 'restore', FULL_ID),
    lifeboatRepo: path.join(workDir, 'repo-lifeboat'),
    resticRepo: path.join(workDir, 'repo-restic'),
    borgRepo: path.join(workDir, 'repo-borg'),
    tarDir: path.join(workDir, 'repo-tar'),
    tarArchive: path.join(workDir, 'repo-tar', 'data.tar.gz.gpg'),
    /** HOME-like folders for the peers (caches, keys, gpg-agent), so nothing outside is touched. */
    home: path.join(workDir, 'home'),
    times: path.join(workDir, 'times'),
  };
}
