/**
 * Fixtures for the adoption tests: OpenPGP keys generated here, backups made by the real
 * `writeBackup` activity, "new hosts" (a fresh catalog beside the same repository folder), archives
 * forged with the project's own archive writer and encryption, and the state of every file in a
 * repository (bytes, mode, mtime) for "nothing in the repository changed".
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as openpgp from 'openpgp';
import { createStorageActivities } from '../activities';
import { writeArchive, type EntryDigest, type Manifest } from '../activities/lib/archive';
import { Catalog } from '../activities/lib/catalog';
import { encryptStream } from '../activities/lib/crypto';
import { hashFile } from '../activities/lib/files';
import { SIDECAR_FORMAT, SIDECAR_VERSION, sidecarBytes, type Sidecar } from '../activities/lib/sidecar';
import { fingerprintOf, readSigningKey, signDetached } from '../activities/lib/signing';
import type { AdoptReport } from '../common/adopt';
import type { LifeboatConfig } from '../config';
import { writeStorageRoot } from '../scripts/storage-root';
import { tempDir, writeConfig } from './helpers';

export const PASSPHRASE_ENV = 'LIFEBOAT_TEST_ADOPT_PASSPHRASE';
export const ENGINE_VERSION = '3.0.0';
export const MODULES = ['maps'];

export interface KeyPair {
  secret: string;
  public: string;
  fingerprint: string;
}

export interface Lab {
  dir: string;
  /** The key pair backups are encrypted to. */
  backupKey: KeyPair;
  /** The target's signing key (encryption.signingKey). */
  signing: KeyPair;
  /** The signing key the target used before a rotation. */
  retired: KeyPair;
  /** Someone else's key pair: holds the target's public key, is never trusted. */
  foreign: KeyPair;
  /** A private key that is not the backups' (a host configured with the wrong key). */
  wrongKey: KeyPair;
}

async function keyPair(dir: string, name: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: `adopt test ${name}` }],
    format: 'armored',
  });
  const pair = { secret: path.join(dir, `${name}.sec.asc`), public: path.join(dir, `${name}.pub.asc`) };
  fs.writeFileSync(pair.secret, privateKey, { mode: 0o600 });
  fs.writeFileSync(pair.public, publicKey);
  return { ...pair, fingerprint: fingerprintOf(await openpgp.readKey({ armoredKey: publicKey })) };
}

export async function setUpLab(prefix: string): Promise<Lab> {
  process.env[PASSPHRASE_ENV] = 'adopt-test-passphrase';
  const dir = tempDir(prefix);
  const keys = path.join(dir, 'keys');
  fs.mkdirSync(keys);
  const [backupKey, signing, retired, foreign, wrongKey] = await Promise.all(
    ['backup', 'signing', 'retired', 'foreign', 'wrong'].map((n) => keyPair(keys, n)),
  );
  return { dir, backupKey, signing, retired, foreign, wrongKey };
}

/** A fresh folder for a repository (or an offsite copy) under the lab. */
export function folder(lab: Lab, name: string): string {
  return fs.mkdtempSync(path.join(lab.dir, `${name}-`));
}

export interface TargetSpec {
  repository: string;
  offsite?: string;
  /** Recipient keys (the default: encrypted to backupKey, signed with signing) or a passphrase. */
  mode?: 'recipients' | 'passphrase';
  /** Replaces or adds encryption settings (`undefined` removes one). */
  encryption?: Record<string, unknown>;
}

function encryptionOf(lab: Lab, spec: TargetSpec): Record<string, unknown> {
  const base =
    spec.mode === 'passphrase'
      ? { passphraseEnv: PASSPHRASE_ENV }
      : {
          recipients: [lab.backupKey.public],
          privateKeys: [lab.backupKey.secret],
          signingKey: lab.signing.secret,
        };
  return Object.fromEntries(
    Object.entries({ ...base, ...spec.encryption }).filter(([, v]) => v !== undefined),
  );
}

/**
 * A host's config with these targets, in a folder of its own (so with its own catalog.sqlite), or
 * rewritten in `dir` (the same host, its config edited).
 */
export function hostConfig(
  lab: Lab,
  targets: Record<string, TargetSpec>,
  dir = fs.mkdtempSync(path.join(lab.dir, 'host-')),
): LifeboatConfig {
  const raw = {
    auditLedger: 'audit.sqlite',
    targets: Object.fromEntries(
      Object.entries(targets).map(([name, spec]) => [
        name,
        {
          root: path.join(lab.dir, 'roots', name),
          repository: spec.repository,
          ...(spec.offsite ? { offsite: spec.offsite } : {}),
          encryption: encryptionOf(lab, spec),
          engineVersion: ENGINE_VERSION,
          modules: MODULES,
        },
      ]),
    ),
  };
  return writeConfig(dir, raw).config;
}

export interface Host {
  config: LifeboatConfig;
  catalog: Catalog;
  acts: ReturnType<typeof createStorageActivities>;
  /** Runs an activity function in a (mock) activity context, as a worker would. */
  run<P extends unknown[], R>(fn: (...args: P) => Promise<R>, ...args: P): Promise<R>;
  adopt(target: string, options?: Parameters<Host['acts']['adoptRepository']>[1]): Promise<AdoptReport>;
  close(): void;
}

/** A new host: a fresh catalog file, the activities built on it. */
export function newHost(config: LifeboatConfig): Host {
  const catalog = new Catalog(config.catalog);
  const acts = createStorageActivities(config, catalog);
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const run = <P extends unknown[], R>(fn: (...args: P) => Promise<R>, ...args: P): Promise<R> =>
    env.run<P, R, typeof fn>(fn, ...args);
  return {
    config,
    catalog,
    acts,
    run,
    adopt: async (target, options) => {
      const report = await run(acts.adoptRepository, target, options ?? {});
      if ('skipped' in report) throw new Error(`adoption was skipped: ${report.reason}`);
      return report;
    },
    close: () => catalog.close(),
  };
}

let made = 0;

/**
 * Makes backups of `target` with the real writeBackup activity on a host of their own (each
 * incremental's parent is the backup before it), changing the root between backups; with an
 * offsite folder, each is copied there by the real replicateOffsite. Returns the backup ids.
 */
export async function makeBackups(
  lab: Lab,
  target: string,
  spec: TargetSpec,
  kinds: ('full' | 'incremental')[],
): Promise<string[]> {
  const root = path.join(lab.dir, 'roots', target);
  if (!fs.existsSync(root))
    writeStorageRoot(root, { projects: 1, filesPerProject: 2, binaryBytes: 16 * 1024, seed: target.length });
  const host = newHost(hostConfig(lab, { [target]: spec }));
  try {
    const ids: string[] = [];
    for (const kind of kinds) {
      made += 1;
      fs.writeFileSync(path.join(root, 'config', 'generation.json'), JSON.stringify({ made }));
      const backupId = `${target}-${made}-${kind}`;
      await host.run(host.acts.writeBackup, target, { backupId, kind, createdBy: 'adopt-test' });
      if (spec.offsite) await host.run(host.acts.replicateOffsite, target, backupId);
      ids.push(backupId);
    }
    return ids;
  } finally {
    host.close();
  }
}

/**
 * Writes a backup the way an attacker who holds only the target's *public* key could: a real
 * archive (the project's writeArchive and encryptStream) and a sidecar that matches it in every
 * field, signed with `signWith` or not signed at all.
 */
export async function forgeBackup(
  lab: Lab,
  options: { repository: string; target: string; backupId: string; signWith?: KeyPair },
): Promise<Sidecar> {
  const { repository, target, backupId } = options;
  const source = path.join(fs.mkdtempSync(path.join(lab.dir, 'forged-')), 'payload.json');
  fs.writeFileSync(source, JSON.stringify({ admin: 'mallory', note: 'restore me' }));
  const createdAt = new Date().toISOString();
  const manifestFor = (digests: EntryDigest[]): Manifest => ({
    specVersion: 1,
    backupId,
    kind: 'full',
    target,
    createdAt,
    createdBy: 'mallory',
    engineVersion: ENGINE_VERSION,
    storageSpecVersion: '1.0.0',
    modules: MODULES,
    files: digests.map((d) => ({ ...d, storedIn: backupId })),
    deleted: [],
  });
  let manifest = { sha256: '', size: 0 };
  const plain = writeArchive(
    [{ path: 'config/server-defaults.json', kind: 'file', source, mode: 0o600, mtimeMs: Date.now() }],
    manifestFor,
    undefined,
    (written) => (manifest = written),
  );
  const archive = path.join(repository, `${backupId}.lbk`);
  await pipeline(
    await encryptStream(plain, { recipients: [lab.backupKey.public] }),
    fs.createWriteStream(archive),
  );
  const { sha256, size } = await hashFile(archive);
  const sidecar: Sidecar = {
    format: SIDECAR_FORMAT,
    version: SIDECAR_VERSION,
    backupId,
    target,
    kind: 'full',
    parent: null,
    createdAt,
    createdBy: 'mallory',
    archive: `${backupId}.lbk`,
    archiveSize: size,
    archiveSha256: sha256,
    manifestSha256: manifest.sha256,
    engineVersion: ENGINE_VERSION,
    storageSpecVersion: '1.0.0',
    modules: MODULES,
    encryption: 'recipients',
    files: 1,
    bytes: fs.statSync(source).size,
  };
  const bytes = sidecarBytes(sidecar);
  if (options.signWith) {
    const key = await readSigningKey(options.signWith.secret, undefined, 'forgery');
    fs.writeFileSync(path.join(repository, `${backupId}.json.asc`), await signDetached(bytes, key));
  }
  fs.writeFileSync(path.join(repository, `${backupId}.json`), bytes);
  return sidecar;
}

/** Every entry under `folders` (and the folders themselves): bytes, size, mode and mtime. */
export function repositoryState(...folders: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (p: string) => {
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) out[p] = 'absent';
    else if (st.isDirectory()) {
      out[p] = `folder mode ${st.mode.toString(8)} mtime ${st.mtimeMs}`;
      for (const name of fs.readdirSync(p).sort()) visit(path.join(p, name));
    } else {
      const sha = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      out[p] = `${sha} ${st.size} bytes mode ${st.mode.toString(8)} mtime ${st.mtimeMs}`;
    }
  };
  folders.forEach(visit);
  return out;
}

/** Captures the repositories now; `expectUnchanged()` fails if any byte, mode or mtime moved since. */
export function watchRepositories(...folders: string[]): { expectUnchanged: () => void } {
  const before = repositoryState(...folders);
  return { expectUnchanged: () => expect(repositoryState(...folders)).toEqual(before) };
}

/** The ApplicationFailure a call was refused with (fails the test when it succeeded). */
export async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected a STOP, but the call completed');
}

/** Flips one byte of a file in place (same size, different SHA-256). */
export function flipByte(file: string, offset = 200): void {
  const bytes = fs.readFileSync(file);
  bytes[offset] ^= 0xff;
  fs.writeFileSync(file, bytes);
}

/** A copy of a repository folder's files (bytes only) into a new folder. */
export function copyFolder(from: string, to: string): string {
  fs.cpSync(from, to, { recursive: true });
  return to;
}

/** The refusal of a backup (or of a sidecar file, for one without an id) in a report. */
export function refusalOf(report: AdoptReport, idOrFile: string): AdoptReport['refused'] {
  return report.refused.filter((r) => r.backupId === idOrFile || path.basename(r.file) === idOrFile);
}
