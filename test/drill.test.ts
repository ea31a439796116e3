/**
 * drDrill on a real dev server with real files, SQLite databases, OpenPGP keys generated here, real
 * commands and real HTTP: every scenario simulates its disaster in a sandbox, runs its recovery
 * runbook as a child workflow against the sandbox and passes its checklist, with RTO and RPO
 * measured and a signed proof written, while every production file keeps its bytes and mtime.
 * A people drill waits at the child's gate until a responder approves the child; a stopped child
 * fails the drill; scenarios and targets that do not fit are refused.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { DrillProofFile } from '../activities/drillProof';
import { Catalog } from '../activities/lib/catalog';
import { SANDBOX_RECORD, sandboxPath, type SandboxRecord } from '../activities/lib/sandbox';
import { DRILL_SCENARIOS, type DrillScenario } from '../common/drill';
import { statusQuery } from '../common/messages';
import type { RunOutcome, RunStatus } from '../common/types';
import type { DrDrillResult } from '../runbooks/drDrill';
import type { BackupResult } from '../runbooks/backupSteps';
import { writeChainFixture } from '../scripts/demo-chain';
import { writeConfigFixture } from '../scripts/demo-config';
import { writeStoreFixture } from '../scripts/demo-data';
import { drillSection, panicDrillCommands, writeDrillKeys } from '../scripts/demo-drill';
import { panicDemoPaths, writePanicDemo } from '../scripts/demo-panic';
import { writeStorageRoot } from '../scripts/storage-root';
import {
  lifeboat,
  startWorker,
  statusWhen,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_DRILL_BACKUP_PASSPHRASE';

let dir: string;
let prod: string;
let drills: string;
let configFile: string;
let tw: TestWorker;
let health: http.Server;
let backup: BackupResult;
let before: Snapshot;

type Snapshot = Record<string, { sha256: string; mtimeMs: number; mode: number }>;

/** Every file, folder and link under `root`: bytes (or link target), mtime and mode. */
function snapshot(root: string): Snapshot {
  const out: Snapshot = {};
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      const st = fs.lstatSync(p);
      const rel = path.relative(root, p);
      if (entry.isDirectory()) {
        out[`${rel}/`] = { sha256: '', mtimeMs: st.mtimeMs, mode: st.mode };
        walk(p);
      } else if (entry.isSymbolicLink()) {
        out[rel] = { sha256: `-> ${fs.readlinkSync(p)}`, mtimeMs: st.mtimeMs, mode: st.mode };
      } else {
        const sha256 = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
        out[rel] = { sha256, mtimeMs: st.mtimeMs, mode: st.mode };
      }
    }
  };
  walk(root);
  return out;
}

function expectProductionUntouched(): void {
  expect(snapshot(prod)).toEqual(before);
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

async function start(
  runbook: string,
  input: Record<string, unknown>,
): Promise<{ id: string; result: () => Promise<RunOutcome<unknown>> }> {
  const handle = await tw.client.workflow.start(runbook, {
    taskQueue: tw.taskQueue,
    workflowId: `${runbook}-${String(input.target)}-${String(input.scenario ?? '')}-${Math.random().toString(36).slice(2, 8)}`,
    args: [input],
  });
  return { id: handle.workflowId, result: () => handle.result() as Promise<RunOutcome<unknown>> };
}

async function drill(
  target: string,
  scenario: DrillScenario,
  approvals?: 'automatic' | 'people',
): Promise<{ id: string; outcome: RunOutcome<DrDrillResult> }> {
  const run = await start('drDrill', { target, scenario, ...(approvals ? { approvals } : {}) });
  return { id: run.id, outcome: (await run.result()) as RunOutcome<DrDrillResult> };
}

const cli = (args: string[]) =>
  lifeboat(args, { LIFEBOAT_TASK_QUEUE: tw.taskQueue, LIFEBOAT_CONFIG: configFile });

/** The drill's sandbox path of a production path. */
const inSandbox = (result: DrDrillResult, production: string) => sandboxPath(result.sandbox, production);

/** What every drill promises: passed, a checklist, RTO/RPO against objectives, a signed proof. */
function expectPassedWithProof(
  result: DrDrillResult,
  scenario: DrillScenario,
  objectives: Record<string, number>,
) {
  const failed = result.checks.filter((c) => !c.ok);
  expect(failed).toEqual([]);
  expect(result.passed).toBe(true);
  expect(result.outcome).toBe('passed');
  expect(result.scenario).toBe(scenario);
  expect(result.recovery).toMatchObject({ runbook: DRILL_SCENARIOS[scenario], state: 'completed' });
  expect(result.checks[0]).toMatchObject({ name: 'recoveryCompleted', ok: true });
  expect(result.rto.achievedSeconds).toBeGreaterThanOrEqual(0);
  expect(result.rto.achievedSeconds).toBeLessThan(120);
  expect(result.rto.objectiveMinutes).toBe(objectives.rtoMinutes);
  expect(result.rto.met).toBe(true);
  expect(result.rpo.objectiveMinutes).toBe(objectives.rpoMinutes);
  expect(typeof result.rpo.achievedSeconds).toBe('number');
  expect(typeof result.rpo.met).toBe('boolean');

  expect(fs.existsSync(result.proof.signaturePath)).toBe(true);
  const file = JSON.parse(fs.readFileSync(result.proof.path, 'utf8')) as DrillProofFile;
  expect(file.contentSha256).toBe(result.proof.contentSha256);
  expect(file.proof).toMatchObject({
    kind: 'lifeboat.drillProof',
    drillId: result.drillId,
    scenario,
    passed: true,
    checks: result.checks,
    rto: result.rto,
    rpo: result.rpo,
  });
  const t = file.proof.timings;
  expect(Date.parse(t.startedAt)).toBeLessThanOrEqual(Date.parse(t.disasterAt));
  expect(Date.parse(t.disasterAt)).toBeLessThanOrEqual(Date.parse(t.recoveredAt));
  expect(result.rto.achievedSeconds).toBeCloseTo(
    (Date.parse(t.recoveredAt) - Date.parse(t.disasterAt)) / 1000,
    1,
  );
  if (result.rpo.dataAsOf) {
    expect(result.rpo.achievedSeconds).toBeCloseTo(
      Math.max(0, (Date.parse(t.disasterAt) - Date.parse(result.rpo.dataAsOf)) / 1000),
      1,
    );
  }
  // The sandbox is evidence: it stays, with its record.
  expect(result.sandbox.startsWith(`${drills}${path.sep}`)).toBe(true);
  expect(result.sandboxKept).toContain(result.sandbox);
  const record = JSON.parse(
    fs.readFileSync(path.join(result.sandbox, SANDBOX_RECORD), 'utf8'),
  ) as SandboxRecord;
  expect(record).toMatchObject({ drillId: result.drillId, scenario, approvals: 'automatic' });
  return file.proof;
}

const OBJECTIVES = {
  store: { rtoMinutes: 15, rpoMinutes: 60 * 24 * 30 },
  config: { rtoMinutes: 5, rpoMinutes: 60 * 24 * 365 },
  chain: { rtoMinutes: 10, rpoMinutes: 60 * 24 },
  panic: { rtoMinutes: 30, rpoMinutes: 60 * 48 },
  storage: { rtoMinutes: 60, rpoMinutes: 60 },
};

/** The target of each automatic drill. */
const AUTOMATIC = {
  deleteLedger: 'panic',
  panicFlag: 'panic',
  corruptFiles: 'storage',
  fullRestore: 'storage',
  hostLoss: 'storage',
  corruptStore: 'store',
  corruptConfig: 'config',
  brokenAuditChain: 'chain',
} as const satisfies Partial<Record<DrillScenario, keyof typeof OBJECTIVES>>;
type AutomaticScenario = keyof typeof AUTOMATIC;

type DrillRun = { id: string; outcome: RunOutcome<DrDrillResult> };
/** Each automatic drill, started by the first test that needs it, so that any test runs alone. */
const automatic: Partial<Record<AutomaticScenario, Promise<DrillRun>>> = {};
/** The latest drill of each target: a target's drills run one after another (its drill lock). */
const latestOf: Partial<Record<string, Promise<unknown>>> = {};

function automaticDrill(scenario: AutomaticScenario): Promise<DrillRun> {
  let run = automatic[scenario];
  if (!run) {
    const target = AUTOMATIC[scenario];
    const next = () => drill(target, scenario);
    run = (latestOf[target] ?? Promise.resolve()).then(next, next);
    latestOf[target] = run;
    automatic[scenario] = run;
  }
  return run;
}

/** Waits until the target's automatic drills are over: a test's own drill of it then finds it free. */
async function drillsOver(target: keyof typeof OBJECTIVES): Promise<void> {
  await Promise.allSettled([latestOf[target]]);
}

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'drill-test-backup-passphrase';
  dir = tempDir('drill');
  prod = path.join(dir, 'prod');
  drills = path.join(dir, 'drills');
  health = http.createServer((_req, res) => res.writeHead(200).end('{"status":"healthy"}'));
  const port = await listen(health);
  const keys = await writeDrillKeys(path.join(dir, 'keys'));
  const withDrill = (
    target: Record<string, unknown>,
    name: keyof typeof OBJECTIVES,
    commands: Record<string, { argv: string[]; timeoutSeconds?: number }> = {},
  ) => ({ ...target, objectives: OBJECTIVES[name], drill: drillSection(drills, keys, commands) });

  const store = writeStoreFixture(path.join(prod, 'store'), 'intact', ['intact', 'intact']);
  // A link out of the store's folder: a sandbox must not carry it (it would point back into production).
  fs.symlinkSync(path.join(prod, 'config'), path.join(prod, 'store', 'shared-config'));
  const config = writeConfigFixture(path.join(prod, 'config'), {
    config: 'intact',
    backups: ['good', 'good'],
  });
  const chain = writeChainFixture(path.join(prod, 'chain'), {
    entries: 12,
    backups: [{ entries: 5 }, { entries: 8, format: 'array' }],
  });
  const panicDir = path.join(prod, 'panic');
  const panic = writePanicDemo(panicDir, { ledger: 'intact', flag: null });
  writeStorageRoot(path.join(prod, 'storage', 'root'), { seed: 7 });
  const marker = path.join('{sandbox}', 'caches-rebuilt');
  const targets = {
    store: withDrill(
      { store: { primary: store.primary, backups: store.backups, quarantine: store.quarantine } },
      'store',
    ),
    config: withDrill(config.target, 'config'),
    chain: withDrill(chain.target, 'chain'),
    panic: withDrill(
      {
        ...panic,
        health: {
          url: `http://127.0.0.1:${port}/healthz`,
          attempts: 2,
          intervalSeconds: 0.2,
          timeoutSeconds: 2,
        },
      },
      'panic',
      panicDrillCommands(panicDir),
    ),
    storage: withDrill(
      {
        root: path.join(prod, 'storage', 'root'),
        repository: path.join(prod, 'storage', 'repo'),
        offsite: path.join(prod, 'storage', 'offsite'),
        encryption: { passphraseEnv: PASSPHRASE_ENV },
        engineVersion: '3.0.0',
        modules: ['maps'],
      },
      'storage',
      {
        rebuildCaches: {
          argv: [
            process.execPath,
            '-e',
            "require('fs').writeFileSync(process.argv[1], 'rebuilt\\n')",
            marker,
          ],
        },
      },
    ),
    // The panic demo with a drill that lacks the commands panicRecovery needs.
    panicNoCommands: withDrill({ ...panic }, 'panic'),
    // A storage root never backed up.
    storageNoBackup: withDrill(
      {
        root: path.join(prod, 'storage', 'root'),
        repository: path.join(prod, 'nobackup', 'repo'),
        encryption: { passphraseEnv: PASSPHRASE_ENV },
      },
      'storage',
    ),
    noDrill: { store: { primary: store.primary, backups: store.backups } },
  };
  const written = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  configFile = written.file;
  tw = await startWorker(written.config, uniqueQueue('drill'));

  const full = await start('fullBackup', { target: 'storage' });
  const fullOutcome = (await full.result()) as RunOutcome<BackupResult>;
  expect(fullOutcome.state).toBe('completed');
  backup = fullOutcome.result!;

  before = snapshot(prod);
}, 60000);

afterAll(async () => {
  await Promise.allSettled(Object.values(automatic));
  await tw?.stop();
  health?.close();
});

describe('every scenario recovers in its sandbox and leaves production as it was', () => {
  // Jest runs this only when a test of this block runs: its drills then overlap instead of queueing.
  beforeAll(() => {
    for (const s of Object.keys(AUTOMATIC) as AutomaticScenario[]) automaticDrill(s).catch(() => undefined);
  });

  test('deleteLedger: the ledger is restored from its newest valid backup, the nonce store rebuilt by the drill command, the flag cleared', async () => {
    const { outcome } = await automaticDrill('deleteLedger');
    expect(outcome.state).toBe('completed');
    const result = outcome.result!;
    const proof = expectPassedWithProof(result, 'deleteLedger', OBJECTIVES.panic);
    expect(result.checks.map((c) => c.name)).toEqual([
      'recoveryCompleted',
      'panicFlagCleared',
      'ledgerIntegrity',
      'ledgerRestored',
      'nonceStoreRebuilt',
      'proofChainContinuous',
      'healthy',
      'servicesStarted',
      'recoveryProofWritten',
    ]);
    const p = panicDemoPaths(path.join(prod, 'panic'));
    // Backups: valid (2 days ago), valid (1 day ago), corrupt (newest): the middle one is restored.
    const backups = fs.readdirSync(p.ledgerBackups).sort();
    expect(result.backup?.id).toBe(backups[1]);
    const backupTime = fs.statSync(path.join(p.ledgerBackups, backups[1])).mtime.toISOString();
    expect(result.rpo.dataAsOf).toBe(backupTime);
    expect(result.rpo.achievedSeconds).toBeGreaterThan(24 * 3600);
    expect(result.rpo.met).toBe(true);
    expect(proof.backup).toEqual({ id: backups[1], createdAt: backupTime });
    // The drill's commands ran in the sandbox: its log and nonce store, never production's.
    expect(fs.readFileSync(inSandbox(result, p.log), 'utf8').split('\n').filter(Boolean)).toEqual([
      'stop',
      'rebuildNonceStore',
      'start',
    ]);
    const nonces = JSON.parse(fs.readFileSync(inSandbox(result, p.nonceStore), 'utf8')) as {
      nonces: string[];
    };
    expect(nonces.nonces).toHaveLength(120);
    expect(fs.existsSync(p.log)).toBe(false);
    expect(fs.existsSync(p.nonceStore)).toBe(false);
    expect(fs.existsSync(inSandbox(result, p.flag))).toBe(false);
    expectProductionUntouched();

    // The proof verifies with the config's drill key (lifeboat proof verify).
    const verified = await cli(['proof', 'verify', result.proof.path]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`VALID drill proof ${result.proof.path}`);
  });

  test('panicFlag: an intact ledger is kept (nothing older comes back: RPO 0), the flag is cleared', async () => {
    const { outcome } = await automaticDrill('panicFlag');
    const result = outcome.result!;
    expectPassedWithProof(result, 'panicFlag', OBJECTIVES.panic);
    expect(result.checks.map((c) => c.name)).not.toContain('ledgerRestored');
    expect(result.rpo).toMatchObject({ achievedSeconds: 0, met: true });
    expect(result.backup).toBeUndefined();
    const p = panicDemoPaths(path.join(prod, 'panic'));
    expect(fs.existsSync(inSandbox(result, p.flag))).toBe(false);
    const proofs = fs.readdirSync(inSandbox(result, p.recoveryProofs));
    expect(proofs.some((f) => /^recovery-.*\.json$/.test(f))).toBe(true);
    expect(fs.existsSync(p.recoveryProofs)).toBe(false);
    expectProductionUntouched();
  });

  test('corruptFiles: damaged and deleted files of the root come back from the newest backup, as its manifest says', async () => {
    const { outcome } = await automaticDrill('corruptFiles');
    const result = outcome.result!;
    const proof = expectPassedWithProof(result, 'corruptFiles', OBJECTIVES.storage);
    expect(result.checks.map((c) => c.name)).toEqual([
      'recoveryCompleted',
      'filesRestored',
      'noUnlistedFiles',
      'databaseIntegrity',
      'modesAndMtimes',
      'damagedFilesRepaired',
    ]);
    const repaired = result.checks.find((c) => c.name === 'damagedFilesRepaired')!.detail;
    expect(repaired).toContain('(deleted)');
    expect(repaired).toContain('core.db (bytes overwritten)');
    expect(proof.backup).toEqual({
      id: backup.backupId,
      createdAt: expect.any(String),
      manifestSha256: backup.manifestSha256,
    });
    expect(result.rpo.dataAsOf).toBe(proof.backup!.createdAt);
    expect(result.rpo.achievedSeconds).toBeLessThan(120);
    expect(result.rpo.met).toBe(true);
    // The drill's rebuildCaches command ran, in the sandbox.
    expect(fs.readFileSync(path.join(result.sandbox, 'caches-rebuilt'), 'utf8')).toBe('rebuilt\n');
    // The damaged root was kept beside the restored one, in the sandbox.
    const root = inSandbox(result, path.join(prod, 'storage', 'root'));
    expect(fs.readdirSync(path.dirname(root)).some((n) => n.startsWith('root.lifeboat-previous-'))).toBe(
      true,
    );
    expectProductionUntouched();
  });

  test('fullRestore: a lost root is restored whole and every file equals the backup (SHA-256, mode, mtime, database integrity)', async () => {
    const { outcome } = await automaticDrill('fullRestore');
    const result = outcome.result!;
    expectPassedWithProof(result, 'fullRestore', OBJECTIVES.storage);
    expect(result.checks.map((c) => c.name)).toEqual([
      'recoveryCompleted',
      'filesRestored',
      'noUnlistedFiles',
      'databaseIntegrity',
      'modesAndMtimes',
    ]);
    expect(result.checks[1].detail).toContain(`all ${backup.files} files of backup ${backup.backupId}`);
    expect(result.checks[3].detail).toContain(`on all ${backup.databases.length} database(s)`);
    // The restored databases hold the rows production held at backup time.
    const restored = new Database(
      path.join(inSandbox(result, path.join(prod, 'storage', 'root')), 'core.db'),
      {
        readonly: true,
      },
    );
    // Production's database is read from a copy: opening it would touch its -shm.
    const copy = path.join(dir, 'core-copy.db');
    for (const suffix of ['', '-wal'])
      fs.copyFileSync(path.join(prod, 'storage', 'root', `core.db${suffix}`), `${copy}${suffix}`);
    const original = new Database(copy, { readonly: true });
    try {
      const all = 'SELECT * FROM items ORDER BY id';
      expect(restored.prepare(all).all()).toEqual(original.prepare(all).all());
    } finally {
      restored.close();
      original.close();
    }
    // Archives were hard-linked into the sandbox, not copied.
    const record = JSON.parse(
      fs.readFileSync(path.join(result.sandbox, SANDBOX_RECORD), 'utf8'),
    ) as SandboxRecord;
    const repo = record.mapping.find((m) => m.production === path.join(prod, 'storage', 'repo'))!;
    expect(repo.linked).toBe(1);
    const archive = path.join(prod, 'storage', 'repo', `${backup.backupId}.lbk`);
    expect(fs.statSync(inSandbox(result, archive)).ino).toBe(fs.statSync(archive).ino);
    expectProductionUntouched();
  });

  test('corruptStore: the primary is restored from the newest valid backup and verifies against its .meta', async () => {
    const { outcome } = await automaticDrill('corruptStore');
    const result = outcome.result!;
    expectPassedWithProof(result, 'corruptStore', OBJECTIVES.store);
    expect(result.checks.map((c) => c.name)).toEqual([
      'recoveryCompleted',
      'primaryVerifies',
      'restoredFromValidBackup',
      'corruptFileKept',
    ]);
    // The newest backup is graph_20261111_013000.json (scripts/demo-data.ts).
    expect(result.backup).toEqual({ id: 'graph_20261111_013000.json', createdAt: '2026-11-11T01:30:00Z' });
    expect(result.rpo.dataAsOf).toBe('2026-11-11T01:30:00Z');
    const record = JSON.parse(
      fs.readFileSync(path.join(result.sandbox, SANDBOX_RECORD), 'utf8'),
    ) as SandboxRecord;
    const link = path.join(prod, 'store', 'shared-config');
    expect(record.skipped).toEqual([
      { path: link, reason: 'a symbolic link (a sandbox never points back into production)' },
    ]);
    expect(fs.existsSync(inSandbox(result, link))).toBe(false);
    expectProductionUntouched();
  });

  test('corruptConfig: a torn config rolls back to the newest backup that parses', async () => {
    const { outcome } = await automaticDrill('corruptConfig');
    const result = outcome.result!;
    expectPassedWithProof(result, 'corruptConfig', OBJECTIVES.config);
    expect(result.checks.map((c) => c.name)).toEqual([
      'recoveryCompleted',
      'configParses',
      'rolledBackToBackup',
      'corruptFileKept',
    ]);
    expect(result.backup?.id).toMatch(/^20260102_030000\.toml$/);
    expect(result.rpo.dataAsOf).toBe('2026-01-02T03:00:00.000Z');
    expectProductionUntouched();
  });

  test('brokenAuditChain: a tampered entry is caught, the newest verified backup restored, the chain continuous again', async () => {
    const { outcome } = await automaticDrill('brokenAuditChain');
    const result = outcome.result!;
    expectPassedWithProof(result, 'brokenAuditChain', OBJECTIVES.chain);
    expect(result.checks.map((c) => c.name)).toEqual([
      'recoveryCompleted',
      'chainContinuous',
      'chainHeadRestored',
      'brokenChainKept',
      'gapRecorded',
    ]);
    expect(result.checks.find((c) => c.name === 'gapRecorded')!.detail).toBe(
      '4 entries lost (index 8 to 11), recorded in the audit',
    );
    // The restored chain's newest entry (index 7) was written at 08:07 on 2026-01-10.
    expect(result.rpo.dataAsOf).toBe('2026-01-10T08:07:00.000Z');
    expect(result.rpo.met).toBe(false);
    expectProductionUntouched();
  });

  test('hostLoss: with an empty catalog of its own and only the offsite copy, the drill adopts it and restores the lost root', async () => {
    const { outcome } = await automaticDrill('hostLoss');
    const result = outcome.result!;
    expectPassedWithProof(result, 'hostLoss', OBJECTIVES.storage);
    expect(result.checks.map((c) => c.name)).toEqual([
      'recoveryCompleted',
      'catalogRebuilt',
      'filesRestored',
      'noUnlistedFiles',
      'databaseIntegrity',
      'modesAndMtimes',
    ]);
    expect(result.checks[1].detail).toContain(`rebuilt from the offsite copy alone: 1 backup(s) adopted`);
    expect(result.checks[2].detail).toContain(`all ${backup.files} files of backup ${backup.backupId}`);
    // The sandbox's own catalog holds what was adopted from the sandbox's offsite copy, nothing else.
    const own = new Catalog(path.join(result.sandbox, 'catalog.sqlite'), { readonly: true });
    try {
      expect(own.list().map((e) => [e.backupId, e.origin])).toEqual([[backup.backupId, 'adopted']]);
      expect(own.get(backup.backupId)!.archive).toBe(
        path.join(inSandbox(result, path.join(prod, 'storage', 'offsite')), `${backup.backupId}.lbk`),
      );
    } finally {
      own.close();
    }
    const proof = JSON.parse(fs.readFileSync(result.proof.path, 'utf8')) as DrillProofFile;
    expect(proof.proof.rto.objectiveMinutes).toBe(OBJECTIVES.storage.rtoMinutes);
    // Production's catalog still lists the backup as made here, and nothing was adopted into it.
    const production = new Catalog(path.join(dir, 'catalog.sqlite'), { readonly: true });
    try {
      expect(production.get(backup.backupId)).toMatchObject({ origin: 'made' });
    } finally {
      production.close();
    }
    expectProductionUntouched();
  });

  test('every drill is in the catalog with its result against the objectives (lifeboat drills list)', async () => {
    const all = await Promise.all(
      (Object.keys(AUTOMATIC) as AutomaticScenario[]).map((s) => automaticDrill(s)),
    );
    const listed = await cli(['drills', 'list', '--json']);
    expect(listed.code).toBe(0);
    const records = JSON.parse(listed.stdout) as { drillId: string; passed: boolean }[];
    for (const { outcome } of all) {
      expect(records).toContainEqual(
        expect.objectContaining({ drillId: outcome.result!.drillId, passed: true }),
      );
    }
    expectProductionUntouched();
  });
});

describe('a people drill', () => {
  test("waits at the recovery's gate until a responder approves the child run; the drill's status names the child", async () => {
    await drillsOver('store');
    const run = await start('drDrill', { target: 'store', scenario: 'corruptStore', approvals: 'people' });
    const status = await statusWhen(
      tw.client,
      run.id,
      (s) => (s.facts.recovery as { state?: string } | undefined)?.state === 'running',
      'the drill to start its recovery',
    );
    const recovery = status.facts.recovery as { workflowId: string; runbook: string; approve: string };
    expect(recovery).toMatchObject({
      runbook: 'corruptedStoreRecovery',
      workflowId: `${run.id}-corruptedStoreRecovery`,
    });
    expect(recovery.approve).toContain(`lifeboat approve ${recovery.workflowId}`);
    const child = await statusWhen(
      tw.client,
      recovery.workflowId,
      (s) => s.state === 'waiting',
      'the child to wait',
    );
    expect(child.waiting).toMatchObject({ kind: 'gate', gate: 'restore' });
    expect(child.target).toMatch(/^store@drill-/);
    // Still waiting a moment later: nobody approved.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await tw.client.workflow.getHandle(recovery.workflowId).query(statusQuery)).state).toBe(
      'waiting',
    );
    expect((await tw.client.workflow.getHandle(run.id).query(statusQuery)).state).toBe('running');
    expectProductionUntouched();

    const approved = await cli(['approve', recovery.workflowId, '--as', 'alice', '--comment', 'drill']);
    expect(approved.code).toBe(0);
    const outcome = (await run.result()) as RunOutcome<DrDrillResult>;
    const result = outcome.result!;
    expect(result.passed).toBe(true);
    const file = JSON.parse(fs.readFileSync(result.proof.path, 'utf8')) as DrillProofFile;
    expect(file.proof.approvals).toBe('people');
    const childStatus: RunStatus = await tw.client.workflow.getHandle(recovery.workflowId).query(statusQuery);
    expect(childStatus.decisions).toContainEqual(
      expect.objectContaining({ action: 'approve', actor: 'alice', gate: 'restore' }),
    );
    expectProductionUntouched();
  });

  test('whose child is stopped completes as failed, with the reason in its checklist and a signed proof', async () => {
    await drillsOver('store');
    const run = await start('drDrill', { target: 'store', scenario: 'corruptStore', approvals: 'people' });
    const childId = `${run.id}-corruptedStoreRecovery`;
    await statusWhen(tw.client, childId, (s) => s.state === 'waiting', 'the child to wait');
    const stopped = await cli(['stop', childId, '--as', 'bob', '--reason', 'drill called off']);
    expect(stopped.code).toBe(0);
    const outcome = (await run.result()) as RunOutcome<DrDrillResult>;
    expect(outcome.state).toBe('completed');
    const result = outcome.result!;
    expect(result.passed).toBe(false);
    expect(result.outcome).toBe('failed');
    expect(result.recovery.state).toBe('stopped');
    expect(result.checks[0]).toEqual({
      name: 'recoveryCompleted',
      ok: false,
      detail: expect.stringContaining('ended stopped: stopped by bob: drill called off'),
    });
    expect(result.checks.find((c) => c.name === 'primaryVerifies')?.ok).toBe(false);
    expect(result.rto.met).toBe(false);
    expect(result.warning).toMatch(/^DRILL FAILED \(corruptStore\): recoveryCompleted: /);
    const file = JSON.parse(fs.readFileSync(result.proof.path, 'utf8')) as DrillProofFile;
    expect(file.proof.passed).toBe(false);
    expect(fs.existsSync(result.proof.signaturePath)).toBe(true);
    expectProductionUntouched();
  });
});

describe('one drill of a target at a time', () => {
  test('a second drill skips with onBusy skip, or waits with LockHeld naming the first; the lock goes with the first', async () => {
    await drillsOver('store');
    const first = await start('drDrill', { target: 'store', scenario: 'corruptStore', approvals: 'people' });
    const childId = `${first.id}-corruptedStoreRecovery`;
    await statusWhen(tw.client, childId, (s) => s.state === 'waiting', 'the first drill to hold its lock');

    const skipped = await start('drDrill', { target: 'store', scenario: 'corruptStore', onBusy: 'skip' });
    const skippedOutcome = await skipped.result();
    expect(skippedOutcome.state).toBe('completed');
    expect(skippedOutcome.result).toMatchObject({
      outcome: 'skipped',
      reason: expect.stringContaining(first.id),
    });

    const waiting = await start('drDrill', { target: 'store', scenario: 'corruptStore' });
    const status = await statusWhen(tw.client, waiting.id, (s) => s.state === 'waiting', 'LockHeld');
    expect(status.waiting).toMatchObject({ step: 'takeDrillLock', errorType: 'LockHeld' });
    expect(status.waiting!.reason).toContain(first.id);

    expect((await cli(['approve', childId, '--as', 'alice'])).code).toBe(0);
    expect(((await first.result()).result as DrDrillResult).passed).toBe(true);
    expect((await cli(['retry', waiting.id, '--as', 'alice'])).code).toBe(0);
    expect(((await waiting.result()).result as DrDrillResult).passed).toBe(true);
  });
});

describe('bad input', () => {
  test('an unknown scenario is refused by the CLI (exit 2) and by the worker, naming the scenarios', async () => {
    const byCli = await cli([
      'start',
      'drDrill',
      '--target',
      'store',
      '--input',
      '{"scenario": "meteorStrike"}',
    ]);
    expect(byCli.code).toBe(2);
    expect(byCli.stderr).toContain(
      `input.scenario must be one of ${Object.keys(DRILL_SCENARIOS).join(', ')} (got 'meteorStrike')`,
    );
    const direct = await start('drDrill', { target: 'store', scenario: 'meteorStrike' });
    await expect(direct.result()).rejects.toMatchObject({
      cause: expect.objectContaining({
        type: 'InvalidInput',
        message: expect.stringContaining('input.scenario must be one of'),
      }),
    });
  });

  test('a scenario that does not fit the target names what is missing and the scenarios that fit', async () => {
    const store = await cli([
      'start',
      'drDrill',
      '--target',
      'config',
      '--input',
      '{"scenario": "corruptStore"}',
    ]);
    expect(store.code).toBe(2);
    expect(store.stderr).toContain(
      "scenario 'corruptStore' does not fit target 'config': it runs corruptedStoreRecovery against the sandbox, which needs a 'store' section; scenarios that fit 'config': corruptConfig",
    );
    const commands = await cli([
      'start',
      'drDrill',
      '--target',
      'panicNoCommands',
      '--input',
      '{"scenario": "panicFlag"}',
    ]);
    expect(commands.code).toBe(2);
    expect(commands.stderr).toContain(
      "the command 'stop' in its drill's commands (targets.panicNoCommands.drill.commands.stop;",
    );
    expect(commands.stderr).toContain("scenarios that fit 'panicNoCommands': none");
    const noBackup = await cli([
      'start',
      'drDrill',
      '--target',
      'storageNoBackup',
      '--input',
      '{"scenario": "fullRestore"}',
    ]);
    expect(noBackup.code).toBe(2);
    expect(noBackup.stderr).toContain('needs a backup in the catalog to restore (run fullBackup first)');
    expectProductionUntouched();
  });

  test('a target without a drill section is refused', async () => {
    const result = await cli([
      'start',
      'drDrill',
      '--target',
      'noDrill',
      '--input',
      '{"scenario": "corruptStore"}',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "target 'noDrill' has no 'drill' section in the worker's config; drDrill needs it",
    );
  });

  test("a drill's derived target never writes to the production catalog (retention is refused)", async () => {
    const { outcome } = await automaticDrill('fullRestore');
    const run = await start('applyRetention', {
      target: `storage@drill-${outcome.result!.drillId}`,
      dryRun: true,
    });
    await expect(run.result()).rejects.toMatchObject({
      cause: expect.objectContaining({
        type: 'InvalidInput',
        message: expect.stringContaining(
          "is a drill sandbox: retention would change the catalog of 'storage', so a drill does not do it",
        ),
      }),
    });
  });

  test('a derived target name that names no sandbox is refused', async () => {
    const run = await start('corruptedStoreRecovery', {
      target: 'store@drill-20260101T000000Z-000000000000',
    });
    await expect(run.result()).rejects.toMatchObject({
      cause: expect.objectContaining({
        message: expect.stringContaining('names no drill sandbox of target'),
      }),
    });
    expectProductionUntouched();
  });
});
