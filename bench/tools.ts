/**
 * The peers the benchmark compares Lifeboat with (restic, borg, tar | gzip | gpg) and GNU time:
 * which are installed, installing the missing ones from Debian when running as root, and their
 * versions for the report. restic is the newest release, pinned (RESTIC_VERSION) and built from its
 * Go module with `go install` into .tools/restic-bin (once; skipped while that binary reports the
 * pinned version); when the build fails, Debian's restic is used, with a warning.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GNU_TIME, haveCommand, versionOf } from './measure';

export const RESTIC_VERSION = '0.18.1';
export const RESTIC_MODULE = 'github.com/restic/restic/cmd/restic';
const REPO_ROOT = path.resolve(__dirname, '..');
/** Where `go install` puts the pinned restic (GOBIN); .tools/ is ignored by git. */
export const RESTIC_GOBIN = path.join(REPO_ROOT, '.tools', 'restic-bin');

/** The peers --peers can choose from. */
export const PEERS = ['restic', 'borg', 'tar'] as const;
export type Peer = (typeof PEERS)[number];

export interface Tools {
  /** The restic binary every restic step runs (undefined: restic is not available). */
  restic?: string;
  /** Where that restic came from. */
  resticSource?: 'pinned' | 'debian';
  borg: boolean;
  gpg: boolean;
  tar: boolean;
  gnuTime: boolean;
  /** Peers left out with --peers. */
  skipped: Peer[];
  versions: Record<string, string | undefined>;
  installLog: string[];
  warnings: string[];
}

const PACKAGES: { cmd: string; pkg: string; peer?: Peer }[] = [
  { cmd: 'borg', pkg: 'borgbackup', peer: 'borg' },
  { cmd: 'gpg', pkg: 'gnupg', peer: 'tar' },
  { cmd: GNU_TIME, pkg: 'time' },
];

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** `restic version`'s version number (e.g. 0.18.1), or undefined when the binary does not run. */
export function resticVersionOf(bin: string): string | undefined {
  const line = versionOf(bin, ['version']);
  return line ? /^restic (\S+)/.exec(line)?.[1] : undefined;
}

/** Installs Debian packages as root; otherwise says what is missing. Returns what it ran. */
function aptInstall(missing: { cmd: string; pkg: string }[], installLog: string[]): void {
  if (!missing.length) return;
  const pkgs = missing.map((p) => p.pkg);
  if (!isRoot()) {
    console.log(
      `setup: not installed: ${missing.map((p) => `${p.cmd} (Debian package ${p.pkg})`).join(', ')}; ` +
        `not root, so not installing them: the peers that need them are skipped ` +
        `(as root: apt-get install -y ${pkgs.join(' ')})`,
    );
    return;
  }
  const line = `apt-get update && apt-get install -y ${pkgs.join(' ')}`;
  console.log(`setup: ${missing.map((p) => p.cmd).join(', ')} missing; running as root: ${line}`);
  installLog.push(line);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  const install =
    update.status === 0
      ? spawnSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'inherit', env })
      : undefined;
  if (update.status !== 0 || install?.status !== 0)
    console.log('setup: the install failed; the missing tools are skipped');
}

/**
 * The pinned restic: .tools/restic-bin/restic when it reports RESTIC_VERSION, else built there with
 * `go install <module>@v<version>`. Undefined (with the reason) when it cannot be built.
 */
function pinnedRestic(): { bin?: string; problem?: string } {
  const bin = path.join(RESTIC_GOBIN, 'restic');
  if (resticVersionOf(bin) === RESTIC_VERSION) {
    console.log(`setup: restic ${RESTIC_VERSION}: ${path.relative(REPO_ROOT, bin)} (already built)`);
    return { bin };
  }
  if (!haveCommand('go')) return { problem: 'Go is not installed' };
  const spec = `${RESTIC_MODULE}@v${RESTIC_VERSION}`;
  console.log(
    `setup: building restic ${RESTIC_VERSION}: GOBIN=${path.relative(REPO_ROOT, RESTIC_GOBIN)} go install ${spec} (a minute or more on a cold Go build cache)`,
  );
  fs.mkdirSync(RESTIC_GOBIN, { recursive: true });
  const built = spawnSync('go', ['install', spec], {
    stdio: 'inherit',
    env: { ...process.env, GOBIN: RESTIC_GOBIN },
  });
  if (built.error) return { problem: `go install: ${built.error.message}` };
  if (built.status !== 0) return { problem: `go install exited with ${built.status}` };
  const version = resticVersionOf(bin);
  if (version !== RESTIC_VERSION)
    return { problem: `the built ${bin} reports ${version ?? 'no version'}, not ${RESTIC_VERSION}` };
  return { bin };
}

/** The restic every restic step runs: the pinned build, else Debian's (installed as root when missing). */
function chooseRestic(tools: Tools): void {
  const pinned = pinnedRestic();
  if (pinned.bin) {
    tools.restic = pinned.bin;
    tools.resticSource = 'pinned';
    return;
  }
  if (!haveCommand('restic')) aptInstall([{ cmd: 'restic', pkg: 'restic' }], tools.installLog);
  const debian = haveCommand('restic') ? 'restic' : undefined;
  const warning = `could not build restic ${RESTIC_VERSION} (${pinned.problem}); ${
    debian
      ? `falling back to Debian's ${versionOf('restic', ['version']) ?? 'restic'}: the restic rows are not the issue's peer`
      : 'and Debian\'s restic is not installed either: the restic rows say "not installed"'
  }`;
  console.log(`setup: WARNING: ${warning}`);
  tools.warnings.push(warning);
  tools.restic = debian;
  tools.resticSource = debian ? 'debian' : undefined;
}

export function ensureTools(peers: readonly Peer[] = PEERS): Tools {
  const installLog: string[] = [];
  aptInstall(
    PACKAGES.filter((p) => (!p.peer || peers.includes(p.peer)) && !haveCommand(p.cmd)),
    installLog,
  );
  const tools: Tools = {
    borg: peers.includes('borg') && haveCommand('borg'),
    gpg: peers.includes('tar') && haveCommand('gpg'),
    tar: peers.includes('tar') && haveCommand('tar') && haveCommand('gzip') && haveCommand('bash'),
    gnuTime: haveCommand(GNU_TIME),
    skipped: PEERS.filter((p) => !peers.includes(p)),
    versions: {},
    installLog,
    warnings: [],
  };
  if (peers.includes('restic')) chooseRestic(tools);
  if (!tools.gnuTime) console.log(`setup: ${GNU_TIME} is missing: peak RSS and CPU time are not measured`);
  tools.versions = {
    node: process.version,
    restic: tools.restic ? versionOf(tools.restic, ['version']) : undefined,
    resticBinary: tools.restic
      ? path.isAbsolute(tools.restic)
        ? path.relative(REPO_ROOT, tools.restic)
        : `${tools.restic} (PATH)`
      : undefined,
    borg: tools.borg ? versionOf('borg') : undefined,
    gpg: tools.gpg ? versionOf('gpg') : undefined,
    tar: versionOf('tar'),
    gzip: versionOf('gzip'),
    time: tools.gnuTime ? versionOf(GNU_TIME, ['--version']) : undefined,
    go: haveCommand('go') ? versionOf('go', ['version']) : undefined,
  };
  if (tools.restic)
    console.log(`setup: restic steps run ${tools.versions.resticBinary}: ${tools.versions.restic}`);
  return tools;
}
