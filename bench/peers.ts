/**
 * The peers' commands: restic (the binary tools.ts chose), borg, and the tar | gzip -1 | gpg
 * pipelines, each stage timed by its own GNU time. Their environments keep caches, keys and
 * gpg-agent inside the repetition's folder, and pass the passphrase in the environment only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GNU_TIME, TIME_FORMAT } from './measure';
import type { Command, Context } from './steps';

export function resticEnv(ctx: Context): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RESTIC_PASSWORD: ctx.passphrase,
    RESTIC_REPOSITORY: ctx.paths.resticRepo,
    RESTIC_CACHE_DIR: path.join(ctx.paths.home, 'restic-cache'),
  };
}

export function borgEnv(ctx: Context): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BORG_PASSPHRASE: ctx.passphrase,
    BORG_REPO: ctx.paths.borgRepo,
    BORG_BASE_DIR: path.join(ctx.paths.home, 'borg'),
    BORG_DISPLAY_PASSPHRASE: 'no',
  };
}

/** A restic command with the chosen binary, in the data set's folder (`backup .`). */
export function restic(ctx: Context, ...args: string[]): Command {
  if (!ctx.tools.restic) throw new Error('restic is not available');
  return { argv: [ctx.tools.restic, ...args], cwd: ctx.paths.root, env: resticEnv(ctx) };
}

export function borg(ctx: Context, cwd: string, ...args: string[]): Command {
  return { argv: ['borg', ...args], cwd, env: borgEnv(ctx) };
}

/**
 * Where restic put the restored tree: `restic backup .` (from inside the root) stores the files at
 * the snapshot's top, but some versions keep the absolute path of the folder backed up.
 */
export function resticRestored(ctx: Context): () => string {
  return () => {
    const nested = path.join(ctx.paths.restoreDir, ctx.paths.root);
    return fs.existsSync(nested) ? nested : ctx.paths.restoreDir;
  };
}

const TIMED = `T() { if [ -n "$GNU_TIME" ]; then local f="$1"; shift; "$GNU_TIME" -f "$TIME_FORMAT" -o "$f" "$@"; else shift; "$@"; fi; }`;

export const TAR_CREATE = `set -euo pipefail
${TIMED}
T "$TIMES/tar" tar -C "$SRC" -cf - . \\
  | T "$TIMES/gzip" gzip -1 \\
  | T "$TIMES/gpg" gpg --batch --yes --quiet --no-symkey-cache --pinentry-mode loopback --passphrase-fd 3 \\
      --symmetric --cipher-algo AES256 --compress-algo none -o "$OUT" 3< <(printf '%s' "$BENCH_PASSPHRASE")
`;

export const TAR_EXTRACT = `set -euo pipefail
${TIMED}
T "$TIMES/gpg" gpg --batch --quiet --no-symkey-cache --pinentry-mode loopback --passphrase-fd 3 \\
    --decrypt "$OUT" 3< <(printf '%s' "$BENCH_PASSPHRASE") \\
  | T "$TIMES/gzip" gzip -d \\
  | T "$TIMES/tar" tar -C "$DEST" -xf -
`;

export function tarCommand(ctx: Context, script: string, name: string): Command {
  const times = path.join(ctx.paths.times, name);
  fs.mkdirSync(times, { recursive: true });
  fs.mkdirSync(path.join(ctx.paths.home, 'gnupg'), { recursive: true, mode: 0o700 });
  const stageTimes = Object.fromEntries(['tar', 'gzip', 'gpg'].map((s) => [s, path.join(times, s)]));
  return {
    argv: ['bash', '-c', script],
    env: {
      ...process.env,
      GNUPGHOME: path.join(ctx.paths.home, 'gnupg'),
      BENCH_PASSPHRASE: ctx.passphrase,
      GNU_TIME: ctx.tools.gnuTime ? GNU_TIME : '',
      TIME_FORMAT,
      TIMES: times,
      SRC: ctx.paths.root,
      OUT: ctx.paths.tarArchive,
      DEST: ctx.paths.restoreDir,
    },
    stageTimes: ctx.tools.gnuTime ? stageTimes : undefined,
  };
}
