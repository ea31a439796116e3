/**
 * The peers the benchmark compares Lifeboat with (restic, borg, tar | gzip | gpg) and GNU time:
 * which are installed, installing the missing ones from Debian when running as root, and their
 * versions for the report.
 */
import { spawnSync } from 'node:child_process';
import { GNU_TIME, haveCommand, versionOf } from './measure';

export interface Tools {
  restic: boolean;
  borg: boolean;
  gpg: boolean;
  tar: boolean;
  gnuTime: boolean;
  versions: Record<string, string | undefined>;
  installLog: string[];
}

const PACKAGES: { cmd: string; pkg: string }[] = [
  { cmd: 'restic', pkg: 'restic' },
  { cmd: 'borg', pkg: 'borgbackup' },
  { cmd: 'gpg', pkg: 'gnupg' },
  { cmd: GNU_TIME, pkg: 'time' },
];

export function ensureTools(): Tools {
  const installLog: string[] = [];
  const missing = PACKAGES.filter((p) => !haveCommand(p.cmd));
  if (missing.length) {
    const pkgs = missing.map((p) => p.pkg);
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    if (isRoot) {
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
    } else {
      console.log(
        `setup: not installed: ${missing.map((p) => `${p.cmd} (Debian package ${p.pkg})`).join(', ')}; ` +
          `not root, so not installing them: the peers that need them are skipped ` +
          `(as root: apt-get install -y ${pkgs.join(' ')})`,
      );
    }
  }
  const tools: Tools = {
    restic: haveCommand('restic'),
    borg: haveCommand('borg'),
    gpg: haveCommand('gpg'),
    tar: haveCommand('tar') && haveCommand('gzip') && haveCommand('bash'),
    gnuTime: haveCommand(GNU_TIME),
    versions: {},
    installLog,
  };
  if (!tools.gnuTime) console.log(`setup: ${GNU_TIME} is missing: peak RSS is not measured`);
  tools.versions = {
    node: process.version,
    restic: tools.restic ? versionOf('restic', ['version']) : undefined,
    borg: tools.borg ? versionOf('borg') : undefined,
    gpg: tools.gpg ? versionOf('gpg') : undefined,
    tar: versionOf('tar'),
    gzip: versionOf('gzip'),
    time: tools.gnuTime ? versionOf(GNU_TIME, ['--version']) : undefined,
  };
  return tools;
}
