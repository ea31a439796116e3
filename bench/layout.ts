/**
 * Where the benchmark keeps its files inside its work folder: the data set (shared by every
 * repetition), and one folder per repetition with each tool's repository, the restores and the
 * peers' home folders. Compiled with the runtime (tsconfig.build.json) for bench/lifeboat-step.ts:
 * node modules only.
 */
import * as path from 'node:path';

export const TARGET = 'bench';
export const FULL_ID = 'bench-full';
export const NO_CHANGE_ID = 'bench-nochange';
export const INCREMENTAL_ID = 'bench-incr';

/** What bench/lifeboat-step.ts can measure (see there). */
export const LIFEBOAT_STEPS = [
  'full',
  'nochange',
  'incremental',
  'verify',
  'restore',
  'restore-checked',
] as const;
export type LifeboatStep = (typeof LIFEBOAT_STEPS)[number];

/** The compiled bench/lifeboat-step.ts, relative to the repository (`npm run build`). */
export const COMPILED_STEP = path.join('dist', 'bench', 'lifeboat-step.js');

/** The work folder's shared parts. */
export function workLayout(workDir: string) {
  return {
    /** The generated data set: the one source every tool backs up. */
    root: path.join(workDir, 'data'),
    /** Copies of the files the 1% change rewrites, taken before it, to put the data set back. */
    originals: path.join(workDir, 'originals'),
    /** The folder of repetition `rep` (1-based). */
    rep: (rep: number) => path.join(workDir, `rep-${rep}`),
  };
}

/** One repetition's folder: fresh repositories for every tool. */
export function repLayout(repDir: string) {
  return {
    repDir,
    /** Every restore goes here (removed before each restore). */
    restoreDir: path.join(repDir, 'restore'),
    /** Lifeboat restores into <restoreDir>/<backupId>. */
    lifeboatRestored: path.join(repDir, 'restore', FULL_ID),
    /** Lifeboat's config file; its catalog and audit ledger live beside it. */
    lifeboatConfig: path.join(repDir, 'lifeboat.config.json'),
    lifeboatRepo: path.join(repDir, 'repo-lifeboat'),
    resticRepo: path.join(repDir, 'repo-restic'),
    borgRepo: path.join(repDir, 'repo-borg'),
    tarDir: path.join(repDir, 'repo-tar'),
    tarArchive: path.join(repDir, 'repo-tar', 'data.tar.gz.gpg'),
    /** HOME-like folders for the peers (caches, keys, gpg-agent), so nothing outside is touched. */
    home: path.join(repDir, 'home'),
    times: path.join(repDir, 'times'),
  };
}

export type Paths = ReturnType<typeof repLayout> & { root: string };
