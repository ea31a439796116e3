/**
 * The day the host is gone (issue 9, DESIGN §4–5): host A backs up a storage root and Lifeboat's own
 * stores, with an offsite copy; then A is deleted. Host B — another config folder, an empty catalog
 * and ledger, another root path that does not exist yet — has only the offsite copy and the kept
 * keys. `restore` adopts the offsite copy and yields A's tree (files byte for byte with modes and
 * mtimes, databases by content and integrity); on a third host `lifeboat self restore`, run first,
 * brings A's ledger and catalog back, `lifeboat audit verify` passes over the whole and shows the
 * seam, and a restore finds that host's copies of the archives the recovered catalog names.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuditLedger } from '../activities/lib/ledger';
import { approveUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import type { BackupResult } from '../runbooks/backupSteps';
import { keyPairOnce } from '../scripts/demo-data';
import { treeState, writeStorageRoot } from '../scripts/storage-root';
import {
  lifeboat,
  startWorker,
  statusWhen,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';
import { repositoryState } from './adopt-fixtures';
import { dbRows, expectSameTree } from './tree-helpers';

let dir: string;
let keys: string;
let expected: { tree: ReturnType<typeof treeState>; dbs: Record<string, unknown[]> };
let hostARuns: string[];

/** A host's config: its own folder for everything but the keys (kept safe off the host). */
function hostConfig(host: string, offsite: string) {
  const encryption = {
    recipients: [path.join(keys, 'backup.pub.asc')],
    privateKeys: [path.join(keys, 'backup.sec.asc')],
    signingKey: path.join(keys, 'signing.sec.asc'),
  };
  fs.mkdirSync(host, { recursive: true });
  return writeConfig(host, {
    auditLedger: 'state/audit.sqlite',
    selfBackup: { repository: 'self-backups', offsite: path.join(offsite, 'lifeboat-self'), encryption },
    targets: {
      storage: {
        root: 'srv/storage',
        repository: 'backups',
        offsite,
        encryption,
        engineVersion: '3.0.0',
        modules: ['maps'],
      },
    },
  });
}

async function runToEnd<R>(tw: TestWorker, runbook: string, target: string): Promise<RunOutcome<R>> {
  const handle = await tw.client.workflow.start(runbook, {
    taskQueue: tw.taskQueue,
    workflowId: `${runbook}-${target}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target }],
  });
  hostARuns.push(handle.workflowId);
  return (await handle.result()) as RunOutcome<R>;
}

async function restoreOnHost(tw: TestWorker, reason: RegExp): Promise<RunOutcome<{ root: string }>> {
  const workflowId = `restore-storage-${Math.random().toString(36).slice(2, 8)}`;
  const handle = await tw.client.workflow.start('restore', {
    taskQueue: tw.taskQueue,
    workflowId,
    args: [{ target: 'storage' }],
  });
  const waiting = await statusWhen(tw.client, workflowId, (s) => s.state === 'waiting', 'the restore gate');
  expect(waiting.waiting?.gate).toBe('restore');
  expect(waiting.waiting?.reason).toMatch(reason);
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  return (await handle.result()) as RunOutcome<{ root: string }>;
}

beforeAll(async () => {
  dir = tempDir('host-loss');
  keys = path.join(dir, 'kept-keys');
  await keyPairOnce(keys, 'backup', 'host-loss test backups');
  await keyPairOnce(keys, 'signing', 'host-loss test signing');
  hostARuns = [];

  // Host A: a full backup, changes, an incremental, and a backup of Lifeboat's own stores.
  const hostA = path.join(dir, 'host-a');
  const offsiteA = path.join(hostA, 'offsite');
  const { config } = hostConfig(hostA, offsiteA);
  const root = config.targets.storage.root!;
  writeStorageRoot(root, { seed: 9 });
  const tw = await startWorker(config, uniqueQueue('host-a'));
  try {
    expect((await runToEnd<BackupResult>(tw, 'fullBackup', 'storage')).state).toBe('completed');
    fs.appendFileSync(path.join(root, 'projects', 'p1', 'notes', 'n1.md'), 'changed after the full backup\n');
    fs.rmSync(path.join(root, 'projects', 'p1', 'notes', 'n2.md'));
    fs.writeFileSync(path.join(root, 'added-later.txt'), 'new since the full backup\n');
    const db = new Database(path.join(root, 'core.db'));
    db.prepare('INSERT INTO items (name, body) VALUES (?, ?)').run('late', 'a row after the full backup');
    db.close();
    const incremental = await runToEnd<BackupResult>(tw, 'incrementalBackup', 'storage');
    expect(incremental.result).toMatchObject({ kind: 'incremental', offsite: expect.any(Array) });
    expected = { tree: treeState(root), dbs: dbRows(root) };
    expect((await runToEnd(tw, 'fullBackup', 'lifeboat-self')).state).toBe('completed');
  } finally {
    await tw.stop();
  }
  // The host is gone: only the offsite copy survives (mounted elsewhere on the new host), and the keys.
  fs.cpSync(offsiteA, path.join(dir, 'offsite-mount'), { recursive: true, preserveTimestamps: true });
  fs.rmSync(hostA, { recursive: true, force: true });
});

test('a new host with only the offsite copy and the keys: restore adopts it and yields the original tree', async () => {
  const hostB = path.join(dir, 'host-b');
  const { config } = hostConfig(hostB, path.join(dir, 'offsite-mount'));
  expect(fs.existsSync(config.targets.storage.root!)).toBe(false);
  const before = repositoryState(path.join(dir, 'offsite-mount'));
  const tw = await startWorker(config, uniqueQueue('host-b'));
  try {
    const outcome = await restoreOnHost(
      tw,
      /the catalog listed no backup: adopted 2 backup\(s\) from the offsite copy .*offsite-mount.*the repository .*does not exist/,
    );
    expect(outcome.state).toBe('completed');
    // The result says which copy the backups came from.
    expect(outcome.result).toMatchObject({ adoptedFrom: 'offsite', adopted: expect.any(Array) });
  } finally {
    await tw.stop();
  }
  expectSameTree(config.targets.storage.root!, expected.tree, expected.dbs);
  // Adoption and restore only read the offsite copy: not a byte, mode or mtime moved, folders included.
  expect(repositoryState(path.join(dir, 'offsite-mount'))).toEqual(before);
});

test("on a new host, lifeboat self restore first brings host A's ledger and catalog back; audit verify shows the seam; restore finds this host's copies", async () => {
  // The order the README gives: Lifeboat's own state first, before the control plane starts.
  const hostC = path.join(dir, 'host-c');
  const { file, config } = hostConfig(hostC, path.join(dir, 'offsite-mount'));
  const from = path.join(dir, 'offsite-mount', 'lifeboat-self');
  const restored = await lifeboat(['self', 'restore', '--from', from, '--config', file, '--as', 'alice']);
  expect(restored.stderr).toBe('');
  expect(restored.code).toBe(0);
  expect(restored.stdout).toMatch(/restored Lifeboat's own stores from backup lifeboat-self-/);
  expect(restored.stdout).toMatch(/catalog .*: 2 backups, 0 drills/);
  expect(restored.stdout).not.toContain('kept aside');

  const ledger = new AuditLedger(config.auditLedger, { readonly: true });
  try {
    // Host A's runs are back, and the seam row continues their chain.
    for (const id of hostARuns.slice(0, 2)) expect(ledger.forWorkflow(id).length).toBeGreaterThan(0);
    const [seam] = ledger.rowsOf('ledger.recovered');
    expect(seam).toMatchObject({ actor: 'alice', target: 'lifeboat-self' });
    expect(JSON.parse(seam.details)).toMatchObject({ recoveredHead: { seq: seam.seq - 1 } });
  } finally {
    ledger.close();
  }

  // The recovered catalog names host A's paths, which are gone; a restore finds this host's copies.
  const tw = await startWorker(config, uniqueQueue('host-c'));
  try {
    const outcome = await restoreOnHost(tw, /read storage-.* from the copy .*offsite-mount/);
    expect(outcome.state).toBe('completed');
    expect((outcome.result as { fromCopies?: string[] }).fromCopies?.join('\n')).toMatch(/offsite-mount/);
  } finally {
    await tw.stop();
  }
  expectSameTree(config.targets.storage.root!, expected.tree, expected.dbs);
  // The restore's rows follow the seam: the whole ledger verifies.
  const verify = await lifeboat(['audit', 'verify', '--config', file]);
  expect(verify.code).toBe(0);
  expect(verify.stdout).toMatch(/chain intact/);
  expect(verify.stdout).toMatch(
    /seam at row \d+: history recovered up to .* from backup lifeboat-self-.* by alice/,
  );
});
