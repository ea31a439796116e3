/**
 * Which Lifeboat this is: the package version and the git commit it was built from (LIFEBOAT_COMMIT
 * in an image without the repository; the CLI package's package.json names its own, `lifeboatCommit`,
 * written by scripts/pack-cli.js; else `git rev-parse`). The worker logs it at start and puts it
 * in its Temporal identity, so `lifeboat version` can name the build of every worker that polls.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// The repository (or installed package) root: above config/, above dist/config/ when compiled, above
// dist/ for the CLI's bundle (dist/lifeboat-cli.js, in a checkout and in the CLI package).
const ROOT = [path.resolve(__dirname, '..'), path.resolve(__dirname, '..', '..')].find((dir) =>
  fs.existsSync(path.join(dir, 'package.json')),
)!;

export interface BuildInfo {
  version: string;
  commit: string;
}

export function buildInfo(env = process.env): BuildInfo {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { version, lifeboatCommit } = require(path.join(ROOT, 'package.json')) as {
    version: string;
    lifeboatCommit?: string;
  };
  let commit = env.LIFEBOAT_COMMIT?.trim() || lifeboatCommit;
  if (!commit) {
    const git = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
    commit = git.status === 0 ? git.stdout.trim() : 'unknown';
  }
  return { version, commit };
}

export function describeBuild(info = buildInfo()): string {
  return `${info.version} (commit ${info.commit})`;
}

/** The identity a worker polls with: its build, host and process. */
export function workerIdentity(info = buildInfo()): string {
  return `lifeboat-worker/${info.version}+${info.commit}@${os.hostname()}#${process.pid}`;
}
