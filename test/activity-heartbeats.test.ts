/**
 * The long storage activities run alone in a MockActivityEnvironment (no server), on a real storage
 * root with SQLite databases and an archive encrypted to an OpenPGP key generated here: what their
 * heartbeats tell a responder (files and bytes, against the totals), and what a cancellation leaves
 * behind (nothing half-written in the repository or beside the root).
 */
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as openpgp from 'openpgp';
import { createStorageActivities } from '../activities';
import type { BackupSummary } from '../activities/backup';
import { Catalog } from '../activities/lib/catalog';
import { treeState, writeStorageRoot } from '../scripts/storage-root';
import { spawnTsx, tempDir, writeConfig } from './helpers';
import type { CancelledBackupReport } from './probe/cancel-backup';
import { dbRows, expectSameTree } from './tree-helpers';

jest.mock('../activities/lib/context', () => {
  const actual = jest.requireActual<typeof import('../activities/lib/context')>('../activities/lib/context');
  // Every beat reaches the test: the once-a-second throttle would show a run this short only its first.
  return { ...actual, heartbeater: () => actual.heartbeat };
});

type Beat = Record<string, unknown> & { phase?: string; files?: number; bytes?: number };

const TARGET = 'vault';
const BACKUP = 'vault-full';

let dir: string;
let configFile: string;
let root: string;
let repository: string;
let catalog: Catalog;
let acts: ReturnType<typeof createStorageActivities>;
/** The backup every reading test reads, and what its write reported. */
let made: { summary: BackupSummary; beats: Beat[] };

/** A fresh activity context, as a worker gives each run, whose heartbeats are collected. */
function activityEnv() {
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const beats: Beat[] = [];
  env.on('heartbeat', (beat: Beat) => beats.push(beat));
  const run = <P extends unknown[], R>(fn: (...args: P) => Promise<R>, ...args: P): Promise<R> =>
    env.run<P, R, typeof fn>(fn, ...args);
  return { run, beats };
}

/** The names in a folder, or [] when it does not exist. */
const namesIn = (folder: string) => (fs.existsSync(folder) ? fs.readdirSync(folder).sort() : []);

/** Whatever a run left beside the root (staging, verification scratch, previous roots). */
const besideRoot = () => namesIn(path.dirname(root)).filter((n) => n.startsWith('root.'));

beforeAll(async () => {
  dir = tempDir('heartbeats');
  root = path.join(dir, 'root');
  repository = path.join(dir, 'repo');
  // Large enough for several archive chunks per file (chunks are 256 KiB).
  writeStorageRoot(root, { binaryBytes: 2 * 1024 * 1024, seed: 11 });
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'heartbeat test backups' }],
    format: 'armored',
  });
  fs.mkdirSync(path.join(dir, 'keys'));
  const secret = path.join(dir, 'keys', 'backup.sec.asc');
  const pub = path.join(dir, 'keys', 'backup.pub.asc');
  fs.writeFileSync(secret, privateKey, { mode: 0o600 });
  fs.writeFileSync(pub, publicKey);
  const written = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: {
      [TARGET]: {
        root,
        repository,
        offsite: path.join(dir, 'offsite'),
        encryption: { recipients: [pub], privateKeys: [secret], signingKey: secret },
      },
    },
  });
  configFile = written.file;
  catalog = new Catalog(written.config.catalog);
  acts = createStorageActivities(written.config, catalog);
  const { run, beats } = activityEnv();
  const summary = await run(acts.writeBackup, TARGET, {
    backupId: BACKUP,
    kind: 'full',
    createdBy: 'activity-heartbeats test',
  });
  made = { summary, beats };
});

afterAll(() => {
  catalog?.close();
});

describe('writeBackup', () => {
  test('beats through the snapshots file by file, then through the archive with files and bytes up to the whole root', () => {
    const { summary, beats } = made;
    expect(summary).toMatchObject({ backupId: BACKUP, kind: 'full', storedFiles: summary.files });
    expect(summary.databases.length).toBeGreaterThan(0);

    const snapshot = beats.filter((b) => b.phase === 'snapshot');
    expect(snapshot[0]).toEqual({ phase: 'snapshot', files: 0, total: summary.files });
    // Each database is named while its snapshot is taken.
    const named = new Set(snapshot.map((b) => b.current).filter(Boolean));
    expect([...named].sort()).toEqual([...summary.databases].sort());

    const archive = beats.filter((b) => b.phase === 'archive');
    expect(beats.indexOf(archive[0])).toBeGreaterThan(beats.indexOf(snapshot[snapshot.length - 1]));
    for (const b of archive)
      expect(b).toMatchObject({ total: summary.files, totalBytes: summary.bytes, files: expect.any(Number) });
    const bytes = archive.map((b) => b.bytes!);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    // Several beats inside one large file: a responder sees a long file move, not only file counts.
    expect(new Set(bytes).size).toBeGreaterThan(summary.files);
    expect(archive[archive.length - 1]).toMatchObject({ files: summary.files, bytes: summary.bytes });
  });

  test('cancelled mid-archive: ends as cancelled, with no archive, partial file, work folder, sidecar or catalog entry left', async () => {
    const backupId = 'vault-cancelled';
    const before = namesIn(repository);
    const probe = spawnTsx('test/probe/cancel-backup.ts', {
      LIFEBOAT_CONFIG: configFile,
      LIFEBOAT_PROBE_TARGET: TARGET,
      LIFEBOAT_PROBE_BACKUP: backupId,
    });
    expect(await probe.exited).toBe(0);
    const lastLine = probe.output().trim().split('\n').pop()!;
    const report = JSON.parse(lastLine) as CancelledBackupReport;
    // Cancelled while the archive was being written, not before it.
    expect(report.beats[report.beats.length - 1]).toMatchObject({
      phase: 'archive',
      bytes: expect.any(Number),
    });
    // Half-written at that moment: the snapshots' work folder and the archive's partial file.
    expect(Object.keys(report.atCancel).sort()).toEqual(
      [...before, `.${backupId}.lbk.partial`, `.lifeboat-work-${backupId}`].sort(),
    );
    expect(report.atCancel[`.${backupId}.lbk.partial`]).toBeGreaterThan(0);
    // The write's pipeline ends with an AbortError caused by the cancellation: a worker reports an
    // AbortError from a cancelled activity as cancelled.
    expect(report.error).toEqual({
      name: 'AbortError',
      message: 'The operation was aborted',
      cause: 'CancelledFailure',
    });
    expect(report.uncaught).toEqual([]);
    expect(namesIn(repository)).toEqual(before);
    expect(catalog.get(backupId)).toBeUndefined();
    expect(besideRoot()).toEqual([]);
  });

  test('cancelled at the first bytes of the archive: nothing is thrown outside the activity (a worker would die of it) and nothing is left', async () => {
    const backupId = 'vault-cancelled-early';
    const before = namesIn(repository);
    const probe = spawnTsx('test/probe/cancel-backup.ts', {
      LIFEBOAT_CONFIG: configFile,
      LIFEBOAT_PROBE_TARGET: TARGET,
      LIFEBOAT_PROBE_BACKUP: backupId,
      LIFEBOAT_PROBE_CANCEL_AT: 'start',
    });
    expect(await probe.exited).toBe(0);
    const report = JSON.parse(probe.output().trim().split('\n').pop()!) as CancelledBackupReport;
    expect(report.beats.filter((b) => b.phase === 'archive')).toHaveLength(1);
    expect(report.uncaught).toEqual([]);
    expect(report.error).toMatchObject({ name: 'AbortError', cause: 'CancelledFailure' });
    expect(namesIn(repository)).toEqual(before);
    expect(catalog.get(backupId)).toBeUndefined();
    expect(besideRoot()).toEqual([]);
  });
});

describe('reading a backup back', () => {
  test('verifyBackup beats as it reads the whole archive, files and bytes against the catalog totals; its scratch folder goes', async () => {
    const { summary } = made;
    const { run, beats } = activityEnv();
    const report = await run(acts.verifyBackup, TARGET, BACKUP, { require: true });
    expect(report).toMatchObject({ backupId: BACKUP, ok: true, files: summary.files, bytes: summary.bytes });
    expect(report.databases.map((d) => d.integrity)).toEqual(summary.databases.map(() => 'ok'));
    expect(beats.length).toBeGreaterThan(summary.files);
    for (const b of beats)
      expect(b).toMatchObject({
        phase: 'verify',
        backupId: BACKUP,
        total: summary.files,
        totalBytes: summary.bytes,
      });
    const bytes = beats.map((b) => b.bytes!);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    expect(beats).toContainEqual(expect.objectContaining({ files: summary.files, bytes: summary.bytes }));
    expect(besideRoot()).toEqual([]);
  });

  test('inspectRestore beats the same way while it verifies the chain', async () => {
    const { summary } = made;
    const { run, beats } = activityEnv();
    const inspected = await run(acts.inspectRestore, TARGET, 'latest');
    expect(inspected).toMatchObject({ backupId: BACKUP, chain: [BACKUP], files: summary.files });
    expect(beats.every((b) => b.phase === 'verify' && b.backupId === BACKUP)).toBe(true);
    expect(beats).toContainEqual(expect.objectContaining({ files: summary.files, bytes: summary.bytes }));
    expect(besideRoot()).toEqual([]);
  });

  test('stageRestore beats files and bytes as it unpacks, up to the whole backup; the staged tree is the root', async () => {
    const { summary } = made;
    const { run, beats } = activityEnv();
    const staged = await run(acts.stageRestore, TARGET, BACKUP, 'beats', {});
    try {
      expect(staged).toEqual({
        staging: `${root}.lifeboat-staging-beats`,
        files: summary.files,
        bytes: summary.bytes,
      });
      expect(beats.length).toBeGreaterThan(summary.files);
      for (const b of beats)
        expect(b).toMatchObject({ phase: 'restore', total: summary.files, totalBytes: summary.bytes });
      const bytes = beats.map((b) => b.bytes!);
      expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
      expect(bytes[bytes.length - 1]).toBe(summary.bytes);
      const files = beats.map((b) => b.files!);
      expect(files).toEqual([...files].sort((a, b) => a - b));
      expectSameTree(staged.staging, treeState(root), dbRows(root));
    } finally {
      expect(await activityEnv().run(acts.removeStaging, TARGET, 'beats')).toBe(true);
    }
    expect(besideRoot()).toEqual([]);
  });

  /** Runs `fn` and cancels it at its first beat with bytes; how it ended, and the beats after the cancel. */
  async function cancelledAtFirstBytes<P extends unknown[]>(
    fn: (...args: P) => Promise<unknown>,
    ...args: P
  ) {
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    let cancelled = false;
    let beatsAfter = 0;
    env.on('heartbeat', (beat: Beat) => {
      if (cancelled) beatsAfter += 1;
      else if (Number(beat.bytes) > 0) {
        cancelled = true;
        env.cancel();
      }
    });
    const outcome = await env.run<P, unknown, typeof fn>(fn, ...args).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    return { ...outcome, cancelled, beatsAfter };
  }

  test('verifyBackup cancelled mid-read stops at the next chunk, records no verdict and leaves no scratch', async () => {
    const before = catalog.get(BACKUP)!;
    const ended = await cancelledAtFirstBytes(acts.verifyBackup, TARGET, BACKUP, { require: true });
    expect(ended.cancelled).toBe(true);
    // Ended by the cancellation, not reported as a backup that failed its verification.
    expect(ended).toMatchObject({ error: expect.any(CancelledFailure) });
    expect(ended.beatsAfter).toBeLessThanOrEqual(1);
    const after = catalog.get(BACKUP)!;
    expect([after.verifyOk, after.verifiedAt, after.verifyReport]).toEqual([
      before.verifyOk,
      before.verifiedAt,
      before.verifyReport,
    ]);
    expect(besideRoot()).toEqual([]);
  });

  test('stageRestore cancelled mid-unpack stops at the next chunk and removes what it staged', async () => {
    const ended = await cancelledAtFirstBytes(acts.stageRestore, TARGET, BACKUP, 'cancelled', {});
    expect(ended.cancelled).toBe(true);
    expect(ended).toMatchObject({ error: expect.any(CancelledFailure) });
    expect(ended.beatsAfter).toBeLessThanOrEqual(1);
    expect(besideRoot()).toEqual([]);
  });
});

describe('replicateOffsite', () => {
  const offsite = () => path.join(dir, 'offsite');

  test('cancelled during the copy: ends cancelled, leaves no partial file offsite and records no copy', async () => {
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    env.on('heartbeat', (beat: Beat) => {
      if (Number(beat.bytes) > 0) env.cancel();
    });
    const failure = await env.run(acts.replicateOffsite, TARGET, BACKUP).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(failure?.name).toBe('AbortError');
    expect(namesIn(offsite())).toEqual([]);
    expect(catalog.get(BACKUP)?.offsiteCopy).toBeNull();
  });

  test('beats with the bytes copied against the total, and each copy equals its original', async () => {
    const { run, beats } = activityEnv();
    // withHeartbeats throttles to a beat a second; a clock that moves a second per reading lets
    // every beat of a copy this short through.
    const realNow = Date.now;
    let skew = 0;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + (skew += 1001));
    const result = await run(acts.replicateOffsite, TARGET, BACKUP).finally(() => clock.mockRestore());
    const names = [`${BACKUP}.json`, `${BACKUP}.json.asc`, `${BACKUP}.lbk`];
    expect(result).toEqual({ copied: expect.arrayContaining(names.map((n) => path.join(offsite(), n))) });
    expect(namesIn(offsite())).toEqual(names);
    const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    for (const name of names)
      expect(sha256(path.join(offsite(), name))).toBe(sha256(path.join(repository, name)));
    const total = names.reduce((sum, n) => sum + fs.statSync(path.join(repository, n)).size, 0);
    const copying = beats.filter((b) => b.phase === 'offsite');
    expect(copying.length).toBeGreaterThan(2);
    for (const b of copying) expect(b).toMatchObject({ backupId: BACKUP, total: 3, totalBytes: total });
    const bytes = copying.map((b) => b.bytes!);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    expect(bytes[bytes.length - 1]).toBe(total);
    expect(catalog.get(BACKUP)?.offsiteCopy).toBe(path.join(offsite(), `${BACKUP}.lbk`));
  });
});
