/**
 * Target sections for the recovery runbooks (driver store, config file, audit chain, auth tokens,
 * panic recovery), the protected service's HTTP health endpoint, what healthCheck reports against, and
 * the recovery objectives. Paths default to folders beside the file they belong to.
 */
import * as path from 'node:path';
import { z } from 'zod';
import {
  GIB,
  crossCheck,
  entries,
  filePath,
  httpUrl,
  int,
  num,
  requiredPath,
  section,
  text,
} from './sections';

const ADAPTERS = ['pnputil', 'directory'] as const;
const program = text('must be a program name or path');
/** A driverStore.restoreSets name: what driverSetRestore's input may say. */
const SET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const beside = (file: string, folder: string) => path.join(path.dirname(file), folder);

const driverStore = (base: string) =>
  section('must be an object like {"adapter": "pnputil", "backups": "...", "updates": "..."}', {
    /** `pnputil` (Windows) or `directory` (a folder of driver packages and a device-status file). */
    adapter: z.enum(ADAPTERS, {
      error: (iss) =>
        `is ${JSON.stringify(iss.input)}; the driver store adapters are: ${ADAPTERS.join(', ')}`,
    }),
    /** Pre-update backups (`pre-update/`), full driver backup sets (`sets/`), restore points. */
    backups: requiredPath(base),
    /** Driver packages an update may install, one folder each; `driverUpdate` input names a folder. */
    updates: requiredPath(base),
    /** Free space the backups folder must have before a backup or an update. */
    minFreeBytes: int(0).default(GIB),
    /** Full driver backup sets kept by `driverBackup` (the procedure: at least the last 2). */
    keepSets: int(1).default(2),
    /** Time limit of one pnputil / PowerShell call. */
    timeoutSeconds: num(1).default(300),
    /** How long a device may take after an install to report problem code 0. */
    settleSeconds: num(0).default(10),
    /** pnputil adapter: the programs (found on PATH unless a path is given). */
    pnputil: program.default('pnputil'),
    powershell: program.default('powershell'),
    /** directory adapter: the package folder and the device-status file (JSON). */
    store: filePath(base).optional(),
    devices: filePath(base).optional(),
    /** directory adapter: a command (in the target's `commands`) that refreshes the device-status file. */
    rescan: z.custom<string>().optional(), // checked against the target's commands (targets.ts)
    /** Full driver backup sets kept elsewhere (an external drive, a share), by name; driverSetRestore's input names one. */
    restoreSets: entries(filePath(base), 'must be an object of name to folder').default({}),
    /** corruptedDriverStore: how many devices with problem code 31 or 39 mean a corrupted driver store. */
    corruptDeviceThreshold: int(1).default(2),
  }).check(
    crossCheck<{ adapter: string; store?: string; devices?: string; restoreSets?: Record<string, string> }>(
      (d, at) => {
        const sets = typeof d.restoreSets === 'object' && d.restoreSets !== null ? d.restoreSets : {};
        for (const name of Object.keys(sets))
          if (!SET_NAME.test(name))
            at.report(
              ['restoreSets', name],
              'must be named with letters, digits, ".", "_" or "-" (an input names it)',
            );
        if (d.adapter !== 'directory') return;
        if (d.store === undefined || !at.parsed('store'))
          at.report(['store'], 'is required by the directory adapter (the package folder)');
        if (d.devices === undefined || !at.parsed('devices'))
          at.report(['devices'], 'is required by the directory adapter (the device-status JSON file)');
      },
    ),
  );

const configFile = (base: string) =>
  section('must be an object like {"file": "app/config.toml", "default": "app/default.toml"}', {
    /** The application's config file (TOML or JSON, by extension). */
    file: requiredPath(base),
    backups: filePath(base).optional(),
    /** The compiled-in default config, used when no backup parses. */
    default: filePath(base).optional(),
    quarantine: filePath(base).optional(),
    /** Backups kept after a recovery (the procedure: 10). */
    keep: int(1).default(10),
  })
    .check(
      crossCheck<{ file: string }>((c, at) => {
        if (at.parsed('file') && !['.toml', '.json'].includes(path.extname(c.file).toLowerCase()))
          at.report(['file'], 'must end in .toml or .json (that is how Lifeboat knows how to parse it)');
      }),
    )
    .transform((c) => ({
      ...c,
      format: path.extname(c.file).toLowerCase() === '.json' ? ('json' as const) : ('toml' as const),
      /** `<config_dir>/backups/<timestamp>.toml` by default. */
      backups: c.backups ?? beside(c.file, 'backups'),
      /** Where a corrupt config is kept (never deleted). */
      quarantine: c.quarantine ?? beside(c.file, 'quarantine'),
    }));

const auditChain = (base: string) =>
  section('must be an object like {"file": "data/chain.jsonl", "backups": "data/chain_backups"}', {
    /** The hash-chained log, one JSON entry per line, each with `prevHash` and `hash`. */
    file: requiredPath(base),
    backups: filePath(base).optional(),
    quarantine: filePath(base).optional(),
  }).transform((c) => ({
    ...c,
    /** `<data_dir>/chain_backups/` by default. */
    backups: c.backups ?? beside(c.file, 'chain_backups'),
    quarantine: c.quarantine ?? beside(c.file, 'quarantine'),
  }));

const panic = (base: string) =>
  section(
    'must be an object like {"flag": "data/PANIC", "ledger": "data/ledger.db", "ledgerBackups": "backup/data", "proofs": "proof"}',
    {
      /** The file whose presence means panic mode. */
      flag: requiredPath(base),
      /** The ledger database and the folder of its backups (SQLite files). */
      ledger: requiredPath(base),
      ledgerBackups: requiredPath(base),
      /** The daily proof files whose Merkle roots form a chain. */
      proofs: requiredPath(base),
      recoveryProofs: filePath(base).optional(),
    },
  ).transform((p) => ({
    ...p,
    /** Where recovery proofs are written; `<flag folder>/recovery-proofs` by default. */
    recoveryProofs: p.recoveryProofs ?? beside(p.flag, 'recovery-proofs'),
  }));

const authTokens = (base: string) =>
  section(
    'must be an object like {"file": "home/.maidos/tokens.json", "reauthenticate": "run maidos login"}',
    {
      /** The token file (JSON). Lifeboat never reads its contents into a status, log or message. */
      file: requiredPath(base),
      /** Where an unreadable token file is kept (never deleted); `quarantine/` beside it by default. */
      quarantine: filePath(base).optional(),
      /** How a person re-authenticates, shown while the run waits for it (e.g. "run `maidos login`"). */
      reauthenticate: text('must be a non-empty text saying how to re-authenticate').default(
        "sign in again from the application's own UI",
      ),
    },
  ).transform((t) => ({ ...t, quarantine: t.quarantine ?? beside(t.file, 'quarantine') }));

const health = section('must be an object like {"url": "http://127.0.0.1:3000/healthz", "attempts": 5}', {
  url: httpUrl,
  attempts: int(1).default(5),
  intervalSeconds: num(0).default(2),
  timeoutSeconds: num(0.1).default(5),
});

/** Absent (or null): every default. */
export const healthCheck = z.preprocess(
  (v) => v ?? {},
  section('must be an object like {"minBackups": 5}', {
    minBackups: int(0).default(5),
    minValidBackups: int(0).default(3),
    minFreeBytes: int(0).default(GIB),
  }),
);

const objectives = section('must be an object like {"rtoMinutes": 30, "rpoMinutes": 60}', {
  rtoMinutes: num(0.01).optional(),
  rpoMinutes: num(0.01).optional(),
}).default({});

export const recoverySettings = (base: string) => ({
  /** Driver store adapter and where driver backups go (the driver runbooks of procedure 000). */
  driverStore: driverStore(base).optional(),
  /** An application config file with timestamped backups (corruptedConfigRecovery). */
  configFile: configFile(base).optional(),
  /** A hash-chained log with its backups (auditChainRecovery). */
  auditChain: auditChain(base).optional(),
  /** An auth token file (lostAuthTokens). */
  authTokens: authTokens(base).optional(),
  /** Panic flag, ledger, proofs (panicRecovery). */
  panic: panic(base).optional(),
  /** The protected service's HTTP health endpoint. */
  health: health.optional(),
  /** What healthCheck reports against. */
  healthCheck,
  /** Recovery objectives (RTO, RPO) in minutes. */
  objectives,
});

export type DriverStoreSettings = z.output<ReturnType<typeof driverStore>>;
export type ConfigFileSettings = z.output<ReturnType<typeof configFile>>;
export type AuditChainSettings = z.output<ReturnType<typeof auditChain>>;
export type PanicSettings = z.output<ReturnType<typeof panic>>;
export type AuthTokenSettings = z.output<ReturnType<typeof authTokens>>;
export type HealthEndpointSettings = z.output<typeof health>;
export type HealthThresholds = z.output<typeof healthCheck>;
export type Objectives = z.output<typeof objectives>;
