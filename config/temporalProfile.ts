/**
 * Where Lifeboat's Temporal connection comes from: Temporal's standard client configuration
 * (`@temporalio/envconfig`), the one the `temporal` CLI and every SDK read, so one profile serves
 * `lifeboat`, the worker and `temporal`. Lowest first:
 *
 * - the profile (`--profile`, else TEMPORAL_PROFILE, else `default`) of the TOML file at
 *   TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml;
 * - TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_* and
 *   TEMPORAL_GRPC_META_* from the environment;
 * - the `--address` and `--namespace` flags.
 *
 * Certificate files are read here, before any connection is tried, so a missing or unreadable one is
 * named by its setting and path. The API key and private keys never appear in a message.
 */
import type { TLSConfig } from '@temporalio/client';
import { loadClientConfigProfile, type ConfigDataSource } from '@temporalio/envconfig';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE } from '../common/constants';

/** A Temporal setting that cannot be used: which one, where it came from, what to do. */
export class TemporalConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalConfigError';
  }
}

export interface TemporalFlags {
  address?: string;
  namespace?: string;
  profile?: string;
}

/** What both `Connection.connect` (client) and `NativeConnection.connect` (worker) take. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
}

export interface TemporalSettings {
  address: string;
  namespace: string;
  connection: TemporalConnectionOptions;
  /** Which client certificate, for messages: `named by TEMPORAL_TLS_CLIENT_CERT_PATH (/etc/…/client.crt)`. */
  clientCertificate?: string;
}

type Env = Record<string, string | undefined>;

/** The config file Temporal's tools read: TEMPORAL_CONFIG_FILE, else the user's config folder. */
export function temporalConfigFile(env: Env = process.env): string | undefined {
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  // The same folder as envconfig and the `temporal` CLI use on each platform.
  let dir: string | undefined;
  if (process.platform === 'win32') dir = env.APPDATA;
  else if (process.platform === 'darwin')
    dir = env.HOME && path.join(env.HOME, 'Library', 'Application Support');
  else if (env.XDG_CONFIG_HOME) dir = path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : undefined;
  else if (env.HOME) dir = path.join(env.HOME, '.config');
  return dir ? path.join(dir, 'temporalio', 'temporal.toml') : undefined;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** The config file's text and its profiles, or none when there is no file and none was asked for. */
function readConfigFile(
  file: string | undefined,
  env: Env,
): { text: string; profiles: Record<string, unknown> } | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A file Temporal's tools would only look for may be absent; one named in TEMPORAL_CONFIG_FILE may not.
    if (code === 'ENOENT' && !env.TEMPORAL_CONFIG_FILE) return undefined;
    throw new TemporalConfigError(
      `cannot read the Temporal config file ${file}${env.TEMPORAL_CONFIG_FILE ? ' (TEMPORAL_CONFIG_FILE)' : ''}: ${reason(err)}`,
    );
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = parseToml(text);
  } catch (err) {
    const detail = (err as Error).message.split('\n')[0];
    throw new TemporalConfigError(`the Temporal config file ${file} is not valid TOML: ${detail}`);
  }
  const profiles = parsed.profile ?? {};
  if (!isTable(profiles)) {
    throw new TemporalConfigError(
      `the Temporal config file ${file}: 'profile' must be a table ([profile.<name>])`,
    );
  }
  return { text, profiles };
}

const STRING_KEYS = ['address', 'namespace', 'api_key'];
const TLS_STRING_KEYS = [
  'server_name',
  'client_cert_path',
  'client_cert_data',
  'client_key_path',
  'client_key_data',
  'server_ca_cert_path',
  'server_ca_cert_data',
];

/** The problems with the types of one profile's keys (envconfig takes the file's values as they are). */
function profileProblems(profile: unknown, name: string): string[] {
  const at = `profile.${name}`;
  if (!isTable(profile)) return [`${at} must be a table`];
  const problems = STRING_KEYS.filter((k) => profile[k] !== undefined && typeof profile[k] !== 'string').map(
    (k) => `${at}.${k} must be a string`,
  );
  const tls = profile.tls;
  if (tls !== undefined && !isTable(tls)) problems.push(`${at}.tls must be a table`);
  if (isTable(tls)) {
    if (tls.disabled !== undefined && typeof tls.disabled !== 'boolean')
      problems.push(`${at}.tls.disabled must be true or false`);
    for (const k of TLS_STRING_KEYS)
      if (tls[k] !== undefined && typeof tls[k] !== 'string')
        problems.push(`${at}.tls.${k} must be a string`);
  }
  const meta = profile.grpc_meta;
  if (meta !== undefined && (!isTable(meta) || Object.values(meta).some((v) => typeof v !== 'string')))
    problems.push(`${at}.grpc_meta must be a table of strings`);
  return problems;
}

/** The errno of a failed read in words, without the stack or the syscall. */
function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a folder';
  return (err as Error).message.split('\n')[0];
}

interface TlsFile {
  /** What the file is, in the operator's words. */
  what: string;
  /** The envconfig key and the matching environment variables. */
  key: 'client_cert' | 'client_key' | 'server_ca_cert';
  env: string;
}

const CLIENT_CERT: TlsFile = {
  what: 'client certificate',
  key: 'client_cert',
  env: 'TEMPORAL_TLS_CLIENT_CERT',
};
const CLIENT_KEY: TlsFile = { what: 'client key', key: 'client_key', env: 'TEMPORAL_TLS_CLIENT_KEY' };
const SERVER_CA: TlsFile = {
  what: 'server CA certificate',
  key: 'server_ca_cert',
  env: 'TEMPORAL_TLS_SERVER_CA_CERT',
};

/** Reads one TLS file or inline PEM, or says which setting names something unusable. */
function readPem(source: ConfigDataSource, setting: string, file: TlsFile): Uint8Array {
  let bytes: Buffer;
  if ('path' in source) {
    try {
      bytes = fs.readFileSync(source.path);
    } catch (err) {
      throw new TemporalConfigError(
        `cannot read the ${file.what} named by ${setting}: ${source.path} (${reason(err)})`,
      );
    }
  } else {
    bytes = Buffer.from(source.data);
  }
  if (!bytes.toString('latin1').includes('-----BEGIN ')) {
    const where =
      'path' in source ? `${source.path} (named by ${setting})` : `the ${file.what} in ${setting}`;
    throw new TemporalConfigError(`${where} is not PEM: expected a '-----BEGIN …' block`);
  }
  return bytes;
}

/**
 * The connection settings for `flags` and `env`, with the certificate files read.
 * Throws {@link TemporalConfigError} naming the setting, the file or the profile at fault.
 */
export function loadTemporalSettings(flags: TemporalFlags = {}, env: Env = process.env): TemporalSettings {
  const file = temporalConfigFile(env);
  const config = readConfigFile(file, env);
  const asked = flags.profile ?? (env.TEMPORAL_PROFILE || undefined);
  const profileName = asked ?? 'default';
  const from = flags.profile !== undefined ? '--profile' : 'TEMPORAL_PROFILE';
  if (asked !== undefined && config?.profiles[asked] === undefined) {
    const known = Object.keys(config?.profiles ?? {});
    throw new TemporalConfigError(
      config
        ? `no profile '${asked}' (${from}) in the Temporal config file ${file}: it has ${known.length ? known.map((k) => `'${k}'`).join(', ') : 'none'}`
        : `no profile '${asked}' (${from}): there is no Temporal config file at ${file ?? 'the default place (no HOME)'}; set TEMPORAL_CONFIG_FILE to yours`,
    );
  }
  const fileProfile = config?.profiles[profileName];
  if (config && fileProfile !== undefined) {
    const problems = profileProblems(fileProfile, profileName);
    if (problems.length)
      throw new TemporalConfigError(`the Temporal config file ${file}: ${problems.join('; ')}`);
  }
  let profile;
  try {
    profile = loadClientConfigProfile({
      profile: profileName,
      ...(config && fileProfile !== undefined
        ? { configSource: { data: config.text } }
        : { disableFile: true }),
      overrideEnvVars: Object.fromEntries(
        Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
      ),
    });
  } catch (err) {
    const where =
      fileProfile !== undefined
        ? `profile '${profileName}' of ${file} and the TEMPORAL_* variables`
        : 'the TEMPORAL_* variables';
    throw new TemporalConfigError(
      `the Temporal settings in ${where} cannot be used: ${(err as Error).message.split('\n')[0]}`,
    );
  }

  /** The setting that supplied a TLS file: the environment wins over the profile, as in envconfig. */
  const settingOf = (f: TlsFile, source: ConfigDataSource): string => {
    const kind = 'path' in source ? 'PATH' : 'DATA';
    if (env[`${f.env}_${kind}`] !== undefined) return `${f.env}_${kind}`;
    return `tls.${f.key}_${kind.toLowerCase()} of profile '${profileName}' in ${file}`;
  };
  const pem = (f: TlsFile, source: ConfigDataSource | undefined) =>
    source === undefined ? undefined : readPem(source, settingOf(f, source), f);

  const address = flags.address ?? (profile.address || DEFAULT_ADDRESS);
  const apiKey = profile.apiKey || undefined;
  let tls: TLSConfig | boolean | undefined;
  let clientCertificate: string | undefined;
  if (profile.tls === undefined) {
    // As the `temporal` CLI does: an API key goes over TLS only.
    tls = apiKey !== undefined ? true : undefined;
  } else if (profile.tls.disabled) {
    tls = false;
  } else {
    const { clientCert, clientKey } = profile.tls;
    if ((clientCert === undefined) !== (clientKey === undefined)) {
      const [has, lacks] = clientCert ? [CLIENT_CERT, CLIENT_KEY] : [CLIENT_KEY, CLIENT_CERT];
      throw new TemporalConfigError(
        `${settingOf(has, (clientCert ?? clientKey)!)} names a ${has.what} but no ${lacks.what} is set: ` +
          `set ${lacks.env}_PATH (or tls.${lacks.key}_path in the profile) too`,
      );
    }
    const crt = pem(CLIENT_CERT, clientCert);
    const key = pem(CLIENT_KEY, clientKey);
    if (clientCert) {
      const setting = settingOf(CLIENT_CERT, clientCert);
      clientCertificate = `named by ${setting}${'path' in clientCert ? ` (${clientCert.path})` : ''}`;
    }
    tls = {
      serverNameOverride: profile.tls.serverName || undefined,
      serverRootCACertificate: pem(SERVER_CA, profile.tls.serverCACert),
      clientCertPair: crt && key ? { crt, key } : undefined,
    };
  }
  return {
    address,
    namespace: flags.namespace ?? (profile.namespace || DEFAULT_NAMESPACE),
    connection: { address, tls, apiKey, metadata: profile.grpcMeta },
    clientCertificate,
  };
}
