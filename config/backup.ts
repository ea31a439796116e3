/**
 * The backup settings of the worker's config: a target's root, repository, offsite copy, encryption
 * and signing keys, retention, versions, commands and inspection folders; and the top-level
 * `selfBackup` section, which makes the built-in target `lifeboat-self` that backs up Lifeboat's own
 * stores (the audit ledger and the catalog).
 */
import * as path from 'node:path';
import { z } from 'zod';
import { SELF_TARGET } from '../common/constants';
import type { RetentionPolicy } from '../common/retention';
import type { TargetConfig } from './targets';
import { healthCheck } from './recovery';
import {
  crossCheck,
  entries,
  envVar,
  filePath,
  isObject,
  isWithin,
  overlaps,
  positive,
  section,
  strings,
  text,
  type CrossCheck,
} from './sections';

const PASSPHRASE_ENV = 'must name an environment variable (the passphrase itself never goes in the config)';
const ENCRYPTION = `must be {"recipients": ["<public key file>"], "privateKeys": ["<private key file>"], "signingKey": "<private key file>"} or {"passphraseEnv": "<ENV_VAR>"}`;

const command = section('must be {"argv": ["program", "arg"], "timeoutSeconds": 60}', {
  /** Program and arguments, run without a shell. */
  argv: strings('must be a non-empty array of strings (run without a shell)'),
  timeoutSeconds: positive('must be a positive number').default(60),
});
export type CommandSettings = z.output<typeof command>;

/** Commands by name (a target's own, or those a drill runs instead). */
export const commands = entries(command, 'must be an object of name to {"argv": [...], "timeoutSeconds": n}')
  .check(
    crossCheck<Record<string, CommandSettings>>((all, at) => {
      for (const name of Object.keys(all))
        if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(name))
          at.report([name], ": a command name may hold letters, digits, '_' and '-'");
    }),
  )
  .default({});

const keyFiles = (base: string, message: string) =>
  strings(message, { nonBlank: true }).transform((files) => files.map((f) => path.resolve(base, f)));

/**
 * Who signs a target's backup sidecars, and whose signatures a restore accepts (see sidecar.ts):
 * the signing key's own public key always, plus `trustedSigners` (retired or other hosts' keys).
 */
const signing = (base: string) => ({
  signingKey: filePath(base).optional(),
  signingKeyPassphraseEnv: envVar(PASSPHRASE_ENV).optional(),
  trustedSigners: keyFiles(
    base,
    'must be a non-empty array of armored public key files (signing keys whose backups a restore accepts, retired ones included)',
  ).optional(),
});
export type SigningSettings = z.output<z.ZodObject<ReturnType<typeof signing>>>;

const signingKeyNamed = (s: SigningSettings, at: CrossCheck) => {
  if (s.signingKeyPassphraseEnv !== undefined && at.parsed('signingKeyPassphraseEnv'))
    if (s.signingKey === undefined || !at.parsed('signingKey'))
      at.reportInFull((e) => `${e}.signingKeyPassphraseEnv is set but ${e}.signingKey is not`);
};

/** Encrypted to public keys (each backup signed), or with a passphrase from the environment. */
function encryption(base: string) {
  const toKeys = section(ENCRYPTION, {
    recipients: keyFiles(base, ENCRYPTION),
    privateKeys: keyFiles(base, 'must be a non-empty array of key files').optional(),
    privateKeyPassphraseEnv: envVar(PASSPHRASE_ENV).optional(),
    ...signing(base),
  }).check(
    crossCheck<SigningSettings>((s, at) => {
      if (s.signingKey === undefined)
        at.report(
          ['signingKey'],
          'is required with recipients: anyone who holds a public key can write an archive that decrypts cleanly, so each backup is signed (an armored OpenPGP private key file; its passphrase, if any, in the variable signingKeyPassphraseEnv names)',
        );
      signingKeyNamed(s, at);
    }),
  );
  const withPassphrase = section(ENCRYPTION, {
    passphraseEnv: envVar(PASSPHRASE_ENV),
    ...signing(base),
  }).check(crossCheck(signingKeyNamed));
  // The form is chosen by its key, so each problem (and each known-key list) is that form's own.
  return z.unknown().transform((raw, ctx) => {
    const parsed =
      isObject(raw) && raw.passphraseEnv !== undefined
        ? withPassphrase.safeParse(raw)
        : toKeys.safeParse(raw);
    if (parsed.success) return parsed.data;
    // A missing or bad recipient list is answered with the usage of the whole section.
    for (const issue of parsed.error.issues)
      ctx.addIssue({ ...issue, path: issue.path[0] === 'recipients' ? [] : issue.path });
    return z.NEVER;
  });
}
export type EncryptionSettings = z.output<ReturnType<typeof encryption>>;

const count = z
  .number({ error: 'must be a positive integer' })
  .refine((n) => Number.isSafeInteger(n) && n >= 1);
/** The same rules as `validateRetention`, which `planRetention` applies. */
const retention: z.ZodType<RetentionPolicy> = section(
  'must be an object like {"keepLast": 3, "daily": 7, "maxAgeDays": 90}',
  {
    keepLast: count.optional(),
    daily: count.optional(),
    weekly: count.optional(),
    monthly: count.optional(),
    maxAgeDays: count.optional(),
  },
);

/** The backup settings of a target (the `selfBackup` section takes repository to retention). */
export const backupSettings = (base: string) => ({
  /** The storage root a backup captures and a restore replaces. */
  root: filePath(base).optional(),
  /** Where the target's backups are written. */
  repository: filePath(base).optional(),
  /** A second repository that new backups are copied to. */
  offsite: filePath(base).optional(),
  encryption: encryption(base).optional(),
  retention: retention.optional(),
  /** The protected system's version and module set, written into manifests and compared on restore. */
  engineVersion: text('must be a version string').optional(),
  storageSpecVersion: text('must be a version string').optional(),
  modules: strings('must be an array of module names', { nonEmpty: false })
    .transform((m) => [...m].sort())
    .optional(),
  commands,
  /** Named folders a restore may write into instead of the live root (for inspection). */
  restoreInto: entries(filePath(base), 'must be an object of name to folder').default({}),
  /** Named folders an export (exportScope) is written to and an import (importScope) reads from. */
  exports: entries(filePath(base), 'must be an object of name to folder').optional(),
});

type Folders = {
  root?: string;
  repository?: string;
  offsite?: string;
  restoreInto?: Record<string, string>;
  exports?: Record<string, string>;
};

/** The repository apart from the root, the offsite copy apart from the repository, restores outside the root. */
export function checkFolders(f: Folders, at: CrossCheck): void {
  const [root, repository, offsite] = (['root', 'repository', 'offsite'] as const).map((k) =>
    at.parsed(k) ? f[k] : undefined,
  );
  if (root && repository && overlaps(repository, root))
    at.reportInFull((t) => `${t}.repository must be outside ${t}.root (and the root outside the repository)`);
  if (repository && offsite && overlaps(repository, offsite))
    at.reportInFull(
      (t) => `${t}.offsite must be a folder apart from ${t}.repository (it is the second copy)`,
    );
  if (root && isObject(f.restoreInto))
    for (const [name, dir] of Object.entries(f.restoreInto))
      if (at.parsed('restoreInto', name) && isWithin(dir, root))
        at.report(['restoreInto', name], 'must be outside the root');
  // An export's sidecar reads like a backup's: in a repository, adoption would take it for a full backup.
  if (isObject(f.exports))
    for (const [name, dir] of Object.entries(f.exports)) {
      if (!at.parsed('exports', name)) continue;
      if (root && overlaps(dir, root)) at.report(['exports', name], 'must be outside the root');
      if ((repository && overlaps(dir, repository)) || (offsite && overlaps(dir, offsite)))
        at.report(['exports', name], 'must be a folder apart from the repository and the offsite copy');
    }
}

/**
 * The built-in target `lifeboat-self`: Lifeboat's own stores (the audit ledger and the catalog, each
 * snapshotted like any database) backed up into `repository` and copied to `offsite`. Temporal's own
 * database and the targets' repositories are not part of it. `lifeboat self restore` brings it back
 * on a new host.
 */
/**
 * Stores in PostgreSQL (`database`) are not files to snapshot: `dump` runs a dump command (pg_dump)
 * that writes `file` before each backup of `lifeboat-self` (as its quiesce command), and the backup
 * captures that file. `{file}` in argv is replaced by the path.
 */
const dump = (base: string) =>
  section(
    'must be {"argv": ["pg_dump", "--format=custom", "--file={file}", "..."], "file": "/var/lib/lifeboat/dump/lifeboat.pgdump"}',
    {
      argv: strings('must be a non-empty array of strings (run without a shell; {file} is the dump file)'),
      file: filePath(base, 'must be the path the command writes the dump to'),
      timeoutSeconds: positive('must be a positive number').default(600),
    },
  );

export function selfBackup(base: string) {
  const { repository, offsite, encryption, retention } = backupSettings(base);
  return section(
    'must be an object like {"repository": "/srv/lifeboat-self", "offsite": "/mnt/offsite/lifeboat-self", "encryption": {...}}',
    { repository, offsite, encryption, retention, dump: dump(base).optional() },
  ).check(
    crossCheck<Folders & { encryption?: unknown }>((self, at) => {
      checkFolders(self, at);
      if (self.repository === undefined || !at.parsed('repository'))
        at.report(['repository'], 'must be the folder the backups are written to');
      if (self.encryption === undefined) at.report(['encryption'], 'is required (as for any target)');
    }),
  );
}
export type SelfBackupSettings = z.output<ReturnType<typeof selfBackup>>;

/** A backup must not be written into the store it backs up. */
export function checkSelfBackupApart(self: Folders, sources: Record<string, string>, at: CrossCheck): void {
  for (const key of ['repository', 'offsite'] as const) {
    const folder = self[key];
    if (folder === undefined || !at.parsed('selfBackup', key)) continue;
    for (const [name, file] of Object.entries(sources))
      if (isWithin(file, folder))
        at.report(['selfBackup'], `: ${folder} must not hold the store it backs up (${name}: ${file})`);
  }
}

export function selfTarget(self: SelfBackupSettings, sources: Record<string, string>): TargetConfig {
  const { dump: dumped, ...settings } = self;
  const base = {
    name: SELF_TARGET,
    gates: {},
    restoreInto: {},
    healthCheck: healthCheck.parse({}),
    objectives: {},
    ...settings,
  };
  if (!dumped)
    return {
      ...base,
      description: "Lifeboat's own stores: the audit ledger and the backup catalog",
      commands: {},
      sources,
    };
  // The stores in PostgreSQL: the dump command runs first (the quiesce step), its file is the backup.
  const argv = dumped.argv.map((a) => a.split('{file}').join(dumped.file));
  return {
    ...base,
    description: "Lifeboat's own stores, dumped by selfBackup.dump (the ledger and catalog in PostgreSQL)",
    commands: { quiesce: { argv, timeoutSeconds: dumped.timeoutSeconds } },
    // With the dump, the control plane's own catalog file (its own targets' manifests, and the
    // self-backups' rows).
    sources: { [path.basename(dumped.file)]: dumped.file, 'catalog.sqlite': sources['catalog.sqlite'] },
  };
}
