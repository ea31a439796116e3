/**
 * healthCheck on a real dev server with real files: a healthy store, a degraded one (corrupt
 * primary, few backups, an old newest valid backup against the RPO, too little disk), an empty one,
 * a backup repository filled by a real fullBackup, and a target with nothing to check. Critical
 * issues reach a webhook (a local HTTP server on 127.0.0.1) as an alert; the run always completes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { HealthCheckResult } from '../runbooks/healthCheck';
import { statusQuery } from '../common/messages';
import type { RunOutcome } from '../common/types';
import { graphJson, writeStoreFixture } from '../scripts/demo-data';
import { writeStorageRoot } from '../scripts/storage-root';
import { snapshotTree, startWorker, tempDir, uniqueQueue, writeConfig, type TestWorker } from './helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_HEALTH_PASSPHRASE';
let dir: string;
let tw: TestWorker;
let hooks: http.Server;
const alerts: Record<string, unknown>[] = [];
const notifications: Record<string, unknown>[] = [];

/** A backup `graph_YYYYMMDD_HHMMSS.json` taken at `at` (local time, as the writer names them). */
function writeBackup(storeDir: string, at: Date, state: 'intact' | 'corrupt', version: number): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const name = `graph_${at.getFullYear()}${p(at.getMonth() + 1)}${p(at.getDate())}_${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}`;
  const good = graphJson(version);
  const bytes = state === 'intact' ? good : Buffer.concat([good.subarray(0, 40), Buffer.from('"x": 1}')]);
  fs.mkdirSync(path.join(storeDir, 'backups'), { recursive: true });
  fs.writeFileSync(path.join(storeDir, 'backups', `${name}.json`), bytes);
  const checksum = createHash('sha256').update(good).digest('hex');
  fs.writeFileSync(path.join(storeDir, 'backups', `${name}.meta`), JSON.stringify({ checksum }));
  return `${name}.json`;
}

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);

function store(name: string) {
  const root = path.join(dir, name);
  return {
    root,
    config: {
      primary: path.join(root, 'graph.json'),
      backups: path.join(root, 'backups'),
      quarantine: path.join(root, 'quarantine'),
    },
  };
}

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'health-test-passphrase';
  dir = tempDir('health');
  hooks = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const message = JSON.parse(body) as Record<string, unknown>;
      notifications.push(message);
      if (message.event === 'alert') alerts.push(message);
      res.writeHead(204).end();
    });
  });
  const port = await new Promise<number>((resolve) =>
    hooks.listen(0, '127.0.0.1', () => resolve((hooks.address() as { port: number }).port)),
  );

  // Healthy: an intact primary and five intact backups, the newest 5 minutes old.
  writeStoreFixture(store('healthy').root, 'intact', []);
  for (let i = 0; i < 5; i += 1) writeBackup(store('healthy').root, minutesAgo(5 + i * 60), 'intact', i + 1);
  // Degraded: a corrupt primary; the newest backup corrupt, the only valid one three days old.
  writeStoreFixture(store('degraded').root, 'corrupt', []);
  writeBackup(store('degraded').root, minutesAgo(3 * 24 * 60), 'intact', 1);
  writeBackup(store('degraded').root, minutesAgo(10), 'corrupt', 2);
  // Empty: nothing at all.
  fs.mkdirSync(store('empty').root, { recursive: true });
  writeStorageRoot(path.join(dir, 'repo', 'root'), { projects: 1, filesPerProject: 2, binaryBytes: 1024 });

  const { config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    notify: { webhooks: [`http://127.0.0.1:${port}/hooks/alerts`] },
    targets: {
      healthy: {
        store: store('healthy').config,
        healthCheck: { minFreeBytes: 1024 },
        objectives: { rpoMinutes: 60 },
      },
      degraded: {
        store: store('degraded').config,
        // More free space than any disk has: the check must report it.
        healthCheck: { minFreeBytes: 2 ** 50 },
        objectives: { rpoMinutes: 60 },
      },
      empty: { store: store('empty').config },
      repo: {
        root: path.join(dir, 'repo', 'root'),
        repository: path.join(dir, 'repo', 'backups'),
        encryption: { passphraseEnv: PASSPHRASE_ENV },
        healthCheck: { minFreeBytes: 1024, minBackups: 1, minValidBackups: 1 },
        objectives: { rpoMinutes: 60 },
      },
      nothing: { description: 'only commands', commands: { start: { argv: ['true'] } } },
    },
  });
  tw = await startWorker(config, uniqueQueue('health'));
});

afterAll(async () => {
  await tw?.stop();
  await new Promise((r) => hooks?.close(r));
});

function start(runbook: string, target: string) {
  return tw.client.workflow.start(runbook, {
    taskQueue: tw.taskQueue,
    workflowId: `${runbook}-${target}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target }],
  });
}

async function check(
  target: string,
): Promise<{ outcome: RunOutcome<HealthCheckResult>; workflowId: string }> {
  const handle = await start('healthCheck', target);
  return { outcome: (await handle.result()) as RunOutcome<HealthCheckResult>, workflowId: handle.workflowId };
}

test('a healthy store: every check passes, no issues, no alert, nothing changed', async () => {
  const before = snapshotTree(store('healthy').root);
  const { outcome, workflowId } = await check('healthy');
  expect(outcome.state).toBe('completed');
  const result = outcome.result!;
  expect(result).toMatchObject({ target: 'healthy', healthy: true, issues: [] });
  expect(result.warning).toBeUndefined();
  expect(result.checks.map((c) => [c.check, c.ok])).toEqual([
    ['primaryPresent', true],
    ['metaPresent', true],
    ['primaryIntact', true],
    ['backupCount', true],
    ['validBackupCount', true],
    ['freeSpace', true],
    ['backupAge', true],
  ]);
  expect(result.checks.find((c) => c.check === 'validBackupCount')).toMatchObject({ value: 5, threshold: 3 });
  const age = result.checks.find((c) => c.check === 'backupAge')!;
  expect(age.value).toBeGreaterThanOrEqual(4.9);
  expect(age.value).toBeLessThan(7);
  expect(age.threshold).toBe(60);
  expect(snapshotTree(store('healthy').root)).toEqual(before);
  expect(alerts.filter((a) => a.workflowId === workflowId)).toEqual([]);
  expect(notifications.find((n) => n.workflowId === workflowId)).toMatchObject({ event: 'completed' });
});

test('a degraded store: each finding is an issue with its severity; the run completes and alerts', async () => {
  const { outcome, workflowId } = await check('degraded');
  expect(outcome.state).toBe('completed');
  const result = outcome.result!;
  expect(result.healthy).toBe(false);
  expect(result.issues).toEqual([
    {
      severity: 'critical',
      check: 'primaryIntact',
      message: expect.stringMatching(
        /^corruption detected: the primary .*graph\.json fails its integrity check: checksum mismatch/,
      ),
    },
    { severity: 'warning', check: 'backupCount', message: 'low backup count: 2 (at least 5 expected)' },
    {
      severity: 'warning',
      check: 'validBackupCount',
      message: 'low valid backup count: 1 (at least 3 expected)',
    },
    {
      severity: 'critical',
      check: 'freeSpace',
      message: expect.stringMatching(
        /^low disk space: [\d.]+ GiB free for .*degraded \(at least 1048576\.00 GiB expected\)$/,
      ),
    },
    {
      severity: 'critical',
      check: 'backupAge',
      message: expect.stringMatching(
        /^the newest valid backup graph_\d{8}_\d{6}\.json is 43\d\d(\.\d)? minutes old; the RPO is 60 minutes$/,
      ),
    },
  ]);
  expect(outcome.status.facts.issues).toEqual(result.issues);
  expect(result.warning).toMatch(/^5 health issue\(s\), 3 critical: \[critical\] corruption detected/);
  // The alert names the critical issues only, and carries all of them as details.
  const alert = alerts.find((a) => a.workflowId === workflowId)!;
  expect(alert).toMatchObject({ event: 'alert', runbook: 'healthCheck', target: 'degraded' });
  expect(alert.reason).toMatch(
    /^3 critical health issue\(s\): \[critical\] corruption detected.*\[critical\] low disk space.*\[critical\] the newest valid backup/,
  );
  expect(alert.reason).not.toMatch(/warning/);
  expect((alert.details as { issues: unknown[] }).issues).toHaveLength(5);
});

test('an empty store: the missing primary and sidecar and no valid backup are critical; no RPO, the age is not judged', async () => {
  const { outcome, workflowId } = await check('empty');
  const result = outcome.result!;
  expect(outcome.state).toBe('completed');
  expect(result.issues.map((i) => [i.severity, i.check])).toEqual([
    ['critical', 'primaryPresent'],
    ['critical', 'metaPresent'],
    ['warning', 'backupCount'],
    ['critical', 'validBackupCount'],
  ]);
  expect(result.checks.map((c) => c.check)).not.toContain('primaryIntact');
  expect(result.checks.find((c) => c.check === 'backupAge')).toEqual({
    check: 'backupAge',
    ok: true,
    value: null,
    threshold: null,
    note: "not judged: the target's objectives have no rpoMinutes",
  });
  expect(alerts.find((a) => a.workflowId === workflowId)).toBeDefined();
});

test('a backup repository: counted from the catalog after a real fullBackup; a missing archive no longer counts as valid', async () => {
  const backup = await start('fullBackup', 'repo');
  const done = (await backup.result()) as RunOutcome<{ archive: string }>;
  expect(done.state).toBe('completed');

  const first = (await check('repo')).outcome.result!;
  expect(first).toMatchObject({ healthy: true, issues: [] });
  expect(first.checks.map((c) => [c.check, c.ok, c.value])).toEqual([
    ['repositoryBackupCount', true, 1],
    ['repositoryValidBackupCount', true, 1],
    ['repositoryFreeSpace', true, expect.any(Number)],
    ['repositoryBackupAge', true, expect.any(Number)],
  ]);
  expect(first.checks[3].value as number).toBeLessThan(5);

  fs.renameSync(done.result!.archive, `${done.result!.archive}.moved`);
  const second = await check('repo');
  expect(second.outcome.result!.issues).toEqual([
    {
      severity: 'critical',
      check: 'repositoryValidBackupCount',
      message: 'low verified repository backup count: 0 (at least 1 expected)',
    },
    {
      severity: 'critical',
      check: 'repositoryBackupAge',
      message: 'no valid backup: nothing to recover within the RPO of 60 minutes',
    },
  ]);
  expect(alerts.find((a) => a.workflowId === second.workflowId)).toBeDefined();
});

test('a target with neither a store nor a repository fails at once, naming what is needed', async () => {
  const handle = await start('healthCheck', 'nothing');
  await expect(handle.result()).rejects.toMatchObject({
    cause: expect.objectContaining({
      type: 'InvalidInput',
      message:
        "target 'nothing' has neither a 'store' section nor a 'repository' in the worker's config; healthCheck needs one of them",
    }),
  });
  // Refused before anything ran, and never reported as accepted (lifeboat start shows the refusal).
  const status = await handle.query(statusQuery);
  expect(status).toMatchObject({ state: 'failed' });
  expect(status.inputAccepted).toBe(false);
  expect(status.steps.map((s) => s.name)).toEqual(['resolveTarget']);
});
