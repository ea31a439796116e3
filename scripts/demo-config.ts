/**
 * Builds "configFile" targets on disk in the layout of procedure 001 §3.1: an application config
 * (TOML or JSON), timestamped backups `backups/<timestamp>.toml` and a compiled-in default.
 * `writeConfigDemo` is the demo target for `npm run up`; the tests build their fixtures with
 * `writeConfigFixture`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type ConfigState = 'intact' | 'corrupt' | 'empty' | 'missing';
export type BackupState = 'good' | 'bad' | 'empty';

export interface ConfigFixtureSpec {
  format?: 'toml' | 'json';
  config: ConfigState;
  /** Backups, oldest first. */
  backups: BackupState[];
  /** Write a compiled-in default (`default.toml`) and name it in the target. */
  withDefault?: boolean;
  keep?: number;
  /** Gate policies of the target. */
  gates?: Record<string, unknown>;
}

export interface ConfigFixture {
  /** The target's config object (absolute paths). */
  target: Record<string, unknown>;
  file: string;
  backups: string;
  quarantine: string;
  defaultFile?: string;
  /** Backup file names, oldest first. */
  backupNames: string[];
  /** Bytes of every file written, by path. */
  contents: Record<string, Buffer>;
}

/** A realistic maidos-style application config; `version` tells copies apart. */
export function configText(format: 'toml' | 'json', version: number): string {
  const settings = {
    app: { name: 'maidos-demo', config_version: version, log_level: version % 2 ? 'info' : 'debug' },
    auth: { token_file: '~/.maidos/tokens.json', refresh_minutes: 30 },
    p2p: { bootstrap: ['10.0.0.2:7400', '10.0.0.3:7400'], max_peers: 16 + version },
    llm: { endpoint: 'http://127.0.0.1:11434', model: 'llama3' },
  };
  if (format === 'json') return `${JSON.stringify(settings, null, 2)}\n`;
  return [
    '# maidos-shared application config',
    '[app]',
    `name = "${settings.app.name}"`,
    `config_version = ${version}`,
    `log_level = "${settings.app.log_level}"`,
    '',
    '[auth]',
    `token_file = "${settings.auth.token_file}"`,
    `refresh_minutes = ${settings.auth.refresh_minutes}`,
    '',
    '[p2p]',
    `bootstrap = ["10.0.0.2:7400", "10.0.0.3:7400"]`,
    `max_peers = ${settings.p2p.max_peers}`,
    '',
    '[llm]',
    `endpoint = "${settings.llm.endpoint}"`,
    `model = "${settings.llm.model}"`,
    '',
  ].join('\n');
}

/** A config cut off mid-write (a torn write): it does not parse. */
export function brokenConfigText(format: 'toml' | 'json', version: number): string {
  const good = configText(format, version);
  if (format === 'json') return good.slice(0, Math.floor(good.length / 2));
  // An unterminated table header and string: what a half-written file looks like.
  return good.replace('[p2p]', '[p2p').replace('model = "llama3"', 'model = "lla');
}

/** The name of backup `i` (oldest first): ISO-like and compact stamps alternate, both accepted. */
export function backupName(i: number, ext: string): string {
  const at = new Date(Date.UTC(2026, 0, 1 + i, 3, 0, 0));
  const iso = at.toISOString().slice(0, 19);
  return i % 2 === 0
    ? `${iso.replace(/:/g, '-')}Z${ext}`
    : `${iso.slice(0, 10).replace(/-/g, '')}_${iso.slice(11).replace(/:/g, '')}${ext}`;
}

export function writeConfigFixture(dir: string, spec: ConfigFixtureSpec): ConfigFixture {
  const format = spec.format ?? 'toml';
  const ext = format === 'json' ? '.json' : '.toml';
  const file = path.join(dir, `config${ext}`);
  const backups = path.join(dir, 'backups');
  const quarantine = path.join(dir, 'quarantine');
  fs.mkdirSync(backups, { recursive: true });
  const contents: Record<string, Buffer> = {};
  const write = (f: string, text: string) => {
    fs.writeFileSync(f, text);
    contents[f] = Buffer.from(text);
  };
  const backupNames = spec.backups.map((state, i) => {
    const name = backupName(i, ext);
    const version = i + 1;
    write(
      path.join(backups, name),
      state === 'good'
        ? configText(format, version)
        : state === 'bad'
          ? brokenConfigText(format, version)
          : '',
    );
    return name;
  });
  const current = spec.backups.length + 1;
  if (spec.config === 'intact') write(file, configText(format, current));
  if (spec.config === 'corrupt') write(file, brokenConfigText(format, current));
  if (spec.config === 'empty') write(file, '');
  let defaultFile: string | undefined;
  if (spec.withDefault) {
    defaultFile = path.join(dir, `default${ext}`);
    write(defaultFile, configText(format, 0));
  }
  const target: Record<string, unknown> = {
    configFile: {
      file,
      backups,
      quarantine,
      ...(defaultFile ? { default: defaultFile } : {}),
      ...(spec.keep !== undefined ? { keep: spec.keep } : {}),
    },
  };
  if (spec.gates) target.gates = spec.gates;
  return { target, file, backups, quarantine, defaultFile, backupNames, contents };
}

/**
 * The demo target: a TOML config torn mid-write, three backups of which the newest is torn too,
 * and a compiled-in default. `corruptedConfigRecovery` restores the second-newest backup on its own.
 */
export function writeConfigDemo(dir: string): Record<string, unknown> {
  return writeConfigFixture(dir, { config: 'corrupt', backups: ['good', 'good', 'bad'], withDefault: true })
    .target;
}
