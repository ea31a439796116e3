/**
 * The fleet's two roles as separate processes: a control plane (in this process) and two agents
 * (`worker/agent.ts`, each with its own config, store, root and repository: two "hosts" on one
 * machine). Each target's activities run only in its own agent's process (the identity on every
 * ActivityTaskStarted event names it, with its pid); the control plane's run only on the control
 * plane. The registry commands; an agent the config does not list, or one claiming another's target,
 * is refused naming both until the old one is forgotten; an agent killed mid-backup makes the run
 * wait naming it, and `retry` completes once it is back, with an archive that verifies.
 */
import { google } from '@temporalio/proto';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as openpgp from 'openpgp';
import { AuditLedger } from '../activities/lib/ledger';
import { Catalog } from '../activities/lib/catalog';
import { Registry } from '../activities/lib/registry';
import { readRegistry } from '../client/agents';
import { readSigningKey, signDetached } from '../activities/lib/signing';
import { retryUpdate, stopUpdate } from '../common/messages';
import { canonicalJson } from '../common/statements';
import { catalogUpdate } from '../workflows/agents';
import type { RunOutcome, RunStatus } from '../common/types';
import { writeStoreFixture } from '../scripts/demo-data';
import { drillSection, writeDrillKeys } from '../scripts/demo-drill';
import { treeState, writeStorageRoot } from '../scripts/storage-root';
import {
  eventually,
  lifeboat,
  spawnTsx,
  startWorker,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
  type Proc,
  type TestWorker,
} from './helpers';
import { dbRows, expectSameTree } from './tree-helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_AGENTS_PASSPHRASE';
let dir: string;
let tw: TestWorker;
let cpConfig: string;
const agents: Record<string, Proc> = {};

async function keyPair(name: string): Promise<{ sec: string; pub: string }> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name }],
    format: 'armored',
  });
  const sec = path.join(dir, 'keys', `${name}.sec.asc`);
  const pub = path.join(dir, 'keys', `${name}.pub.asc`);
  fs.mkdirSync(path.dirname(sec), { recursive: true });
  fs.writeFileSync(sec, privateKey);
  fs.writeFileSync(pub, publicKey);
  return { sec, pub };
}

/** Writes a host's folder and its agent config: a store and a storage root with its repository. */
function writeHost(name: string, targets: string[], key: string, site: string): string {
  const host = path.join(dir, name);
  const config: Record<string, unknown> = {};
  for (const t of targets) {
    if (t.startsWith('store')) {
      // store0B has no backup that verifies: its recovery waits at a failure.
      if (t === 'store0B') writeStoreFixture(path.join(host, t), 'unparsable', ['corrupt']);
      else writeStoreFixture(path.join(host, t), 'corrupt', ['intact']);
      config[t] = { ...storeTargetConfig(path.join(host, t)), labels: { site, kind: 'store' } };
    } else {
      writeStorageRoot(path.join(host, t, 'root'), {
        seed: targets.indexOf(t) + 3,
        binaryBytes: 4 * 1024 * 1024,
      });
      config[t] = {
        root: path.join(host, t, 'root'),
        repository: path.join(host, t, 'repo'),
        encryption: { passphraseEnv: PASSPHRASE_ENV },
        labels: { site, kind: 'storage' },
      };
    }
  }
  const file = path.join(host, 'lifeboat.agent.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      agent: { name, signingKey: key, timeoutSeconds: name === 'hostB' ? 600 : 5, announceEverySeconds: 10 },
      targets: config,
    }),
  );
  return file;
}

async function startAgent(name: string, file: string): Promise<Proc> {
  const proc = spawnTsx('worker/agent.ts', {
    LIFEBOAT_AGENT_CONFIG: file,
    TEMPORAL_ADDRESS: process.env.LIFEBOAT_TEST_ADDRESS!,
    LIFEBOAT_TASK_QUEUE: tw.taskQueue,
    [PASSPHRASE_ENV]: 'agents-test-passphrase',
  });
  await eventually(async () => {
    if (proc.child.exitCode !== null) throw new Error(`agent ${name} exited: ${proc.output()}`);
    return proc.output().includes('polling task queue') ? true : undefined;
  }, `agent ${name} to announce itself`);
  agents[name] = proc;
  return proc;
}

const hostFiles: Record<string, string> = {};

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'agents-test-passphrase';
  dir = tempDir('agents');
  const keys = {
    hostA: await keyPair('hostA'),
    hostB: await keyPair('hostB'),
    hostC: await keyPair('hostC'),
  };
  hostFiles.hostA = writeHost('hostA', ['storeA', 'storeA2', 'rootA'], keys.hostA.sec, 'a');
  hostFiles.hostB = writeHost('hostB', ['storeB', 'store0B', 'rootB'], keys.hostB.sec, 'b');
  // storeB can be drilled: its sandbox and drill key are host B's.
  const bConfig = JSON.parse(fs.readFileSync(hostFiles.hostB, 'utf8')) as {
    targets: Record<string, Record<string, unknown>>;
  };
  bConfig.targets.storeB.drill = drillSection(
    path.join(dir, 'hostB', 'drills'),
    await writeDrillKeys(path.join(dir, 'hostB', 'drill-keys')),
  );
  // Host B stands by for host A's rootA: its paths, and host A's offsite copy as host B sees it.
  (bConfig as Record<string, unknown>).standby = {
    rootA: {
      root: path.join(dir, 'hostB', 'standby-rootA', 'root'),
      repository: path.join(dir, 'hostB', 'standby-rootA', 'repo'),
      offsite: path.join(dir, 'offsite', 'rootA'),
      encryption: { passphraseEnv: PASSPHRASE_ENV },
      drill: drillSection(
        path.join(dir, 'hostB', 'standby-drills'),
        await writeDrillKeys(path.join(dir, 'hostB', 'standby-drill-keys')),
      ),
    },
  };
  fs.writeFileSync(hostFiles.hostB, JSON.stringify(bConfig));
  const aConfig = JSON.parse(fs.readFileSync(hostFiles.hostA, 'utf8')) as {
    targets: Record<string, Record<string, unknown>>;
  };
  aConfig.targets.rootA.offsite = path.join(dir, 'offsite', 'rootA');
  // A drill belongs to its target: the target's own host lists its drill section too.
  aConfig.targets.rootA.drill = drillSection(
    path.join(dir, 'hostA', 'drills'),
    await writeDrillKeys(path.join(dir, 'hostA', 'drill-keys')),
  );
  fs.writeFileSync(hostFiles.hostA, JSON.stringify(aConfig));
  // hostC claims storeA and rootA: the new machine of host A's targets, with host A's repository
  // (shared storage) and a root of its own that does not exist yet.
  hostFiles.hostC = writeHost('hostC', ['storeA'], keys.hostC.sec, 'c');
  const cConfig = JSON.parse(fs.readFileSync(hostFiles.hostC, 'utf8')) as {
    targets: Record<string, unknown>;
  };
  cConfig.targets.rootA = {
    root: path.join(dir, 'hostC', 'rootA', 'root'),
    repository: path.join(dir, 'hostA', 'rootA', 'repo'),
    encryption: { passphraseEnv: PASSPHRASE_ENV },
    labels: { site: 'c', kind: 'storage' },
  };
  fs.writeFileSync(hostFiles.hostC, JSON.stringify(cConfig));
  hostFiles.stranger = writeHost('stranger', ['storeS'], keys.hostC.sec, 's');
  const auto = { gates: { restore: { automatic: true } } };
  const written = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    agents: Object.fromEntries(
      Object.entries(keys).map(([n, k]) => [
        n,
        { publicKey: k.pub, ...(n === 'hostB' ? { standby: ['rootA'] } : {}) },
      ]),
    ),
    // rootB's steps wait 5 s for host B (whose own default here is 10 minutes): the per-target setting.
    policies: {
      storeA: auto,
      storeA2: auto,
      storeB: auto,
      store0B: auto,
      rootA: auto,
      rootB: { agentTimeoutSeconds: 5 },
    },
    targets: {},
  });
  cpConfig = written.file;
  tw = await startWorker(written.config, uniqueQueue('agents'));
  await startAgent('hostA', hostFiles.hostA);
  await startAgent('hostB', hostFiles.hostB);
}, 120_000);

afterAll(async () => {
  for (const p of Object.values(agents)) if (p.child.exitCode === null) p.child.kill('SIGTERM');
  await Promise.all(Object.values(agents).map((p) => p.exited));
  await tw?.stop();
});

const run = (runbook: string, target: string) =>
  tw.client.workflow.start(runbook, {
    taskQueue: tw.taskQueue,
    workflowId: `agents-${runbook}-${target}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target }],
  });

/** activity type → the identities of the workers that started it, from the run's history. */
async function startedBy(workflowId: string): Promise<Map<string, Set<string>>> {
  const history = await tw.client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<number, string>();
  const out = new Map<string, Set<string>>();
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(Number(e.eventId), s.activityType?.name ?? '?');
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const type = scheduled.get(Number(started.scheduledEventId)) ?? '?';
      out.set(type, new Set([...(out.get(type) ?? []), started.identity ?? '?']));
    }
  }
  return out;
}

const agentIdentity = (name: string, p: ChildProcess) => `lifeboat-agent ${name} pid ${p.pid} `;

test("each target's activities run in its own agent's process; the ledger and audit on the control plane", async () => {
  const runs = await Promise.all([
    run('corruptedStoreRecovery', 'storeA'),
    run('corruptedStoreRecovery', 'storeB'),
    run('fullBackup', 'rootA'),
    run('fullBackup', 'rootB'),
  ]);
  const owners = ['hostA', 'hostB', 'hostA', 'hostB'];
  for (const [i, handle] of runs.entries()) {
    const outcome = (await handle.result()) as RunOutcome;
    expect(outcome.state).toBe('completed');
    const by = await startedBy(handle.workflowId);
    const own = agentIdentity(owners[i], agents[owners[i]].child);
    for (const [activity, identities] of by) {
      for (const identity of identities) {
        if (['resolveTarget', 'appendAudit', 'notify'].includes(activity))
          expect(identity).not.toContain('lifeboat-agent');
        else expect(`${activity}: ${identity}`).toContain(`${activity}: ${own}`);
      }
    }
    expect(
      [...by.keys()].filter((a) => !['resolveTarget', 'appendAudit', 'notify'].includes(a)).length,
    ).toBeGreaterThan(1);
  }
  // Host A's files were touched, host B's by its own agent: the backups are in each host's repository.
  expect(fs.readdirSync(path.join(dir, 'hostA', 'rootA', 'repo')).some((f) => f.endsWith('.json'))).toBe(
    true,
  );
  expect(fs.readdirSync(path.join(dir, 'hostB', 'rootB', 'repo')).some((f) => f.endsWith('.json'))).toBe(
    true,
  );
}, 120_000);

test('the registry: lifeboat agents and lifeboat targets, with labels', async () => {
  const env = { LIFEBOAT_TASK_QUEUE: tw.taskQueue };
  const listed = await lifeboat(['agents', 'list', '--config', cpConfig], env);
  expect(listed.code).toBe(0);
  expect(listed.stdout).toMatch(
    new RegExp(`hostA .*pid ${agents.hostA.child.pid} .*last seen \\d{4}-.*targets: rootA, storeA, storeA2`),
  );
  expect(listed.stdout).toMatch(/hostB .*targets: rootB, store0B, storeB/);
  const storage = await lifeboat(['targets', '--label', 'kind=storage', '--json', '--config', cpConfig], env);
  expect(
    (JSON.parse(storage.stdout) as { target: string; agent: string }[]).map((t) => [t.target, t.agent]),
  ).toEqual([
    ['rootA', 'hostA'],
    ['rootB', 'hostB'],
  ]);
  // Schedules: of a target an agent holds, and of a fleet (no --target: its selector is in --input).
  const scheduled = await lifeboat(
    ['schedule', 'create', 'fullBackup', '--target', 'rootB', '--every', '24h', '--config', cpConfig],
    env,
  );
  expect(scheduled.code).toBe(0);
  const fleetInput = { runbook: 'healthCheck', selector: { kind: 'store' }, maxConcurrency: 2, maxErrors: 1 };
  const fleetSchedule = await lifeboat(
    [
      'schedule',
      'create',
      'fleet',
      '--input',
      JSON.stringify(fleetInput),
      '--cron',
      '0 3 1 */3 *',
      '--config',
      cpConfig,
    ],
    env,
  );
  expect(fleetSchedule.stderr).toContain('scheduled fleet on fleet:kind=store');
  const described = await tw.client.schedule.getHandle(fleetSchedule.stdout.trim()).describe();
  expect(described.action).toMatchObject({ workflowType: 'fleet', args: [fleetInput] });
  for (const id of [scheduled.stdout.trim(), fleetSchedule.stdout.trim()])
    await tw.client.schedule.getHandle(id).delete();
  const unknown = await lifeboat(['start', 'fullBackup', '--target', 'rootZ'], env);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(
    /unknown target 'rootZ'.*agents hold: rootA, rootB, store0B, storeA, storeA2, storeB/,
  );
});

test("the control plane's catalog holds every agent's backups and drills, reported signed", async () => {
  const backup = await run('fullBackup', 'rootB');
  const outcome = (await backup.result()) as RunOutcome<{ backupId: string }>;
  expect(outcome.state).toBe('completed');
  const id = outcome.result!.backupId;
  const controlPlane = () => new Catalog(path.join(dir, 'catalog.sqlite'), { readonly: true });
  let catalog = controlPlane();
  try {
    // Reported before the activity that verified it returned: the run's result and the row agree.
    expect(catalog.get(id)).toMatchObject({ target: 'rootB', heldBy: 'hostB', verifyOk: 1, kind: 'full' });
    expect(catalog.manifest(id)).toBeUndefined(); // the manifest stays on host B
  } finally {
    catalog.close();
  }
  const own = new Catalog(path.join(dir, 'hostB', 'catalog.sqlite'), { readonly: true });
  try {
    expect(own.manifest(id)?.files.length).toBeGreaterThan(0);
  } finally {
    own.close();
  }
  const env = { LIFEBOAT_TASK_QUEUE: tw.taskQueue };
  const listed = await lifeboat(['backups', 'list', '--target', 'rootB', '--config', cpConfig], env);
  expect(listed.code).toBe(0);
  expect(listed.stdout).toContain(id);
  expect(listed.stdout).toContain('held by agent hostB');

  // Written while the control plane could not hear of it (host B stopped): reported when it starts.
  agents.hostB.child.kill('SIGTERM');
  await agents.hostB.exited;
  const drill = {
    drillId: `missed-${Math.random().toString(36).slice(2, 8)}`,
    workflowId: 'drill-while-away',
    target: 'rootB',
    scenario: 'fullRestore' as const,
    passed: true,
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    rtoSeconds: 1,
    proofPath: path.join(dir, 'hostB', 'proof.json'),
  };
  const hostCatalog = new Catalog(path.join(dir, 'hostB', 'catalog.sqlite'));
  hostCatalog.recordDrill(drill);
  hostCatalog.close();
  await startAgent('hostB', hostFiles.hostB);
  catalog = controlPlane();
  try {
    expect(catalog.listDrills('rootB')).toContainEqual(drill);
  } finally {
    catalog.close();
  }

  // Reports the control plane does not take: signed by another agent's key; a target not its own.
  const session = tw.client.workflow.getHandle(`lifeboat-agent-hostB`);
  const entry = { ...(await readEntry(id)), target: 'storeA', backupId: 'storeA-forged' };
  const report = (agent: string) =>
    canonicalJson({
      kind: 'lifeboat.catalog',
      version: 1,
      agent,
      at: new Date().toISOString(),
      backups: [entry],
      drills: [],
    });
  const sign = async (text: string, keyName: string) =>
    signDetached(
      new TextEncoder().encode(text),
      await readSigningKey(path.join(dir, 'keys', `${keyName}.sec.asc`), undefined, 'agent'),
    );
  const forged = report('hostB');
  expect(
    await session.executeUpdate(catalogUpdate, {
      args: [{ report: forged, signature: await sign(forged, 'hostC') }],
    }),
  ).toEqual({
    ok: false,
    refusal: expect.stringMatching(
      /catalog report of agent 'hostB' is not signed by the key in agents\.hostB\.publicKey/,
    ),
  });
  expect(
    await session.executeUpdate(catalogUpdate, {
      args: [{ report: forged, signature: await sign(forged, 'hostB') }],
    }),
  ).toEqual({
    ok: true,
    backups: 0,
    drills: 0,
    refused: ["storeA-forged: target 'storeA' is not held by agent 'hostB'"],
  });
  // A row recorded for one of its targets cannot be rewritten as another's (nor another agent's row).
  const moved = canonicalJson({
    kind: 'lifeboat.catalog',
    version: 1,
    agent: 'hostB',
    at: new Date().toISOString(),
    backups: [{ ...(await readEntry(id)), target: 'storeB' }],
    drills: [],
  });
  expect(
    await session.executeUpdate(catalogUpdate, {
      args: [{ report: moved, signature: await sign(moved, 'hostB') }],
    }),
  ).toEqual({
    ok: true,
    backups: 0,
    drills: 0,
    refused: [`${id}: recorded for target 'rootB', not 'storeB'`],
  });
  catalog = controlPlane();
  try {
    expect(catalog.get('storeA-forged')).toBeUndefined();
    expect(catalog.get(id)).toMatchObject({ target: 'rootB', heldBy: 'hostB' });
  } finally {
    catalog.close();
  }
}, 120_000);

async function readEntry(id: string) {
  const c = new Catalog(path.join(dir, 'hostB', 'catalog.sqlite'), { readonly: true });
  try {
    return c.get(id)!;
  } finally {
    c.close();
  }
}

test("a drill of an agent's target: sandbox, disaster and recovery on its agent; the drill in the control plane's catalog", async () => {
  const drill = await tw.client.workflow.start('drDrill', {
    taskQueue: tw.taskQueue,
    workflowId: `agents-drill-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target: 'storeB', scenario: 'corruptStore' }],
  });
  const outcome = (await drill.result()) as RunOutcome<{ passed: boolean; drillId: string; sandbox: string }>;
  expect(outcome.state).toBe('completed');
  expect(outcome.result).toMatchObject({ passed: true });
  expect(outcome.result!.sandbox.startsWith(path.join(dir, 'hostB', 'drills'))).toBe(true);
  const own = agentIdentity('hostB', agents.hostB.child);
  for (const workflowId of [drill.workflowId, `${drill.workflowId}-corruptedStoreRecovery`]) {
    const by = await startedBy(workflowId);
    for (const [activity, identities] of by)
      for (const identity of identities)
        if (['resolveTarget', 'appendAudit', 'notify', 'registerDrillTarget'].includes(activity))
          expect(identity).not.toContain('lifeboat-agent');
        else expect(`${activity}: ${identity}`).toContain(`${activity}: ${own}`);
  }
  const catalog = new Catalog(path.join(dir, 'catalog.sqlite'), { readonly: true });
  try {
    expect(catalog.listDrills('storeB').map((d) => [d.drillId, d.passed])).toContainEqual([
      outcome.result!.drillId,
      true,
    ]);
  } finally {
    catalog.close();
  }
}, 120_000);

test('a host-loss drill with its sandbox on another agent: host B, standing by for rootA, restores it from the offsite copy alone', async () => {
  expect(((await (await run('fullBackup', 'rootA')).result()) as RunOutcome).state).toBe('completed');
  const production = path.join(dir, 'hostA', 'rootA', 'root');
  const before = treeState(production);
  const start = (input: Record<string, unknown>) =>
    tw.client.workflow.start('drDrill', {
      taskQueue: tw.taskQueue,
      workflowId: `agents-standby-drill-${Math.random().toString(36).slice(2, 8)}`,
      args: [{ target: 'rootA', scenario: 'hostLoss', ...input }],
    });
  const drill = await start({ sandboxAgent: 'hostB' });
  const outcome = (await drill.result()) as RunOutcome<{
    passed: boolean;
    drillId: string;
    sandbox: string;
    checks: { name: string; ok: boolean }[];
  }>;
  expect(outcome.state).toBe('completed');
  expect(outcome.result!.checks.filter((c) => !c.ok)).toEqual([]);
  expect(outcome.result!.passed).toBe(true);
  expect(outcome.result!.sandbox.startsWith(path.join(dir, 'hostB', 'standby-drills'))).toBe(true);
  const onB = agentIdentity('hostB', agents.hostB.child);
  const controlPlane = ['resolveTarget', 'appendAudit', 'notify', 'registerDrillTarget', 'standbyForDrill'];
  for (const workflowId of [drill.workflowId, `${drill.workflowId}-restore`]) {
    const by = await startedBy(workflowId);
    expect(by.has('adoptRepository') || by.has('prepareSandbox')).toBe(true);
    for (const [activity, identities] of by)
      for (const identity of identities)
        if (controlPlane.includes(activity)) expect(identity).not.toContain('lifeboat-agent');
        else expect(`${activity}: ${identity}`).toContain(`${activity}: ${onB}`);
  }
  // Production (host A's root) was not even read by host B: unchanged, and the drill is on record.
  expect(treeState(production)).toEqual(before);
  const catalog = new Catalog(path.join(dir, 'catalog.sqlite'), { readonly: true });
  try {
    expect(catalog.listDrills('rootA').map((d) => [d.drillId, d.passed])).toContainEqual([
      outcome.result!.drillId,
      true,
    ]);
  } finally {
    catalog.close();
  }
  // Not for an agent that does not stand by for the target, nor for a scenario that copies production.
  for (const [input, message] of [
    [{ sandboxAgent: 'hostA' }, /agent 'hostA' does not stand by for target 'rootA'.*agents that do: hostB/],
    [{ sandboxAgent: 'hostB', scenario: 'fullRestore' }, /sandboxAgent is for the hostLoss scenario only/],
  ] as const) {
    await expect((await start(input)).result()).rejects.toMatchObject({
      cause: expect.objectContaining({ type: 'InvalidInput', message: expect.stringMatching(message) }),
    });
  }
}, 180_000);

test('a fleet run over four targets on two agents, one failing, maxErrors 1: it halts naming it', async () => {
  const fleet = await tw.client.workflow.start('fleet', {
    taskQueue: tw.taskQueue,
    workflowId: `agents-fleet-${Math.random().toString(36).slice(2, 8)}`,
    args: [
      { runbook: 'corruptedStoreRecovery', selector: { kind: 'store' }, maxConcurrency: 2, maxErrors: 1 },
    ],
  });
  // The first wave is store0B (host B, no valid backup: it waits at a failure) and storeA (host A).
  const halted = await statusWhen(
    tw.client,
    fleet.workflowId,
    (s) => s.facts.halted !== undefined,
    'the fleet to halt',
    60_000,
  );
  expect(halted.target).toBe('fleet:kind=store');
  await tw.client.workflow
    .getHandle(`${fleet.workflowId}-store0B`)
    .executeUpdate(stopUpdate, { args: [{ actor: 'ops', reason: 'no backup to restore from' }] });
  const outcome = (await fleet.result()) as RunOutcome<{
    outcome: string;
    failed: string[];
    notStarted: string[];
    targets: { target: string; state: string }[];
  }>;
  expect(outcome.result).toMatchObject({
    outcome: 'halted',
    failed: ['store0B'],
    notStarted: ['storeA2', 'storeB'],
  });
  expect(outcome.result!.targets.map((r) => [r.target, r.state])).toEqual([
    ['store0B', 'stopped'],
    ['storeA', 'completed'],
    ['storeA2', 'not started'],
    ['storeB', 'not started'],
  ]);
  // Each child ran on its own target's agent.
  const storeA = await startedBy(`${fleet.workflowId}-storeA`);
  expect([...(storeA.get('verifyPrimary') ?? [])]).toEqual([
    expect.stringContaining(agentIdentity('hostA', agents.hostA.child)),
  ]);
  const store0B = await startedBy(`${fleet.workflowId}-store0B`);
  expect([...(store0B.get('verifyPrimary') ?? [])]).toEqual([
    expect.stringContaining(agentIdentity('hostB', agents.hostB.child)),
  ]);
}, 120_000);

test('an agent killed mid-backup: the run waits naming it, and retry completes once it is back', async () => {
  const handle = await run('fullBackup', 'rootB');
  // Killed once the archive is being written (or, on a fast machine, just after: then the next step
  // is the one its agent never picks up).
  await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.steps.some((st) => st.name === 'writeBackup'),
    'the backup to be written',
    60_000,
  );
  agents.hostB.child.kill('SIGKILL');
  await agents.hostB.exited;
  // The attempt the dead agent had started times out now rather than after its heartbeat timeout.
  const request = { namespace: 'default', execution: { workflowId: handle.workflowId } };
  await tw.client.workflowService
    .updateActivityOptions({
      ...request,
      matchAll: true,
      activityOptions: { heartbeatTimeout: google.protobuf.Duration.fromObject({ seconds: 1 }) },
      updateMask: { paths: ['heartbeat_timeout'] },
    })
    .catch((err: { code?: number }) => {
      // NOT_FOUND: no activity is pending at this instant (the agent died between two steps); the
      // next one is scheduled on its queue and times out waiting to start.
      if (err.code !== 5) throw err;
    });
  const waiting: RunStatus = await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.waiting?.kind === 'failure',
    'the run to wait for its agent',
    60_000,
  );
  expect(waiting.waiting!.errorType).toBe('AgentNotPolling');
  expect(waiting.waiting!.reason).toMatch(
    /agent 'hostB' is not polling its task queue .* \(last seen \d{4}-/,
  );
  await startAgent('hostB', hostFiles.hostB);
  await tw.client.workflow
    .getHandle(handle.workflowId)
    .executeUpdate(retryUpdate, { args: [{ actor: 'ops' }] });
  const outcome = (await handle.result()) as RunOutcome<{ verified?: boolean }>;
  expect(outcome.state).toBe('completed');
  expect(outcome.result!.verified).toBe(true);
}, 120_000);

test('an agent the config does not list, or one claiming a target another holds, is refused naming both', async () => {
  const stranger = spawnTsx('worker/agent.ts', {
    LIFEBOAT_AGENT_CONFIG: hostFiles.stranger,
    TEMPORAL_ADDRESS: process.env.LIFEBOAT_TEST_ADDRESS!,
    LIFEBOAT_TASK_QUEUE: tw.taskQueue,
  });
  expect(await stranger.exited).toBe(2);
  expect(stranger.output()).toMatch(
    /agent 'stranger' is not listed in the control plane's config: add agents\.stranger/,
  );

  const claim = () =>
    spawnTsx('worker/agent.ts', {
      LIFEBOAT_AGENT_CONFIG: hostFiles.hostC,
      TEMPORAL_ADDRESS: process.env.LIFEBOAT_TEST_ADDRESS!,
      LIFEBOAT_TASK_QUEUE: tw.taskQueue,
    });
  // Standing by for a target is the control plane's to allow (agents.<name>.standby).
  const withStandby = path.join(dir, 'hostC', 'lifeboat.standby.agent.json');
  const cConfig = JSON.parse(fs.readFileSync(hostFiles.hostC, 'utf8')) as Record<string, unknown>;
  cConfig.standby = {
    rootB: {
      root: path.join(dir, 'hostC', 'standby-rootB'),
      repository: path.join(dir, 'hostC', 'standby-rootB-repo'),
      offsite: path.join(dir, 'offsite', 'rootB'),
      encryption: { passphraseEnv: PASSPHRASE_ENV },
      drill: drillSection(
        path.join(dir, 'hostC', 'standby-drills'),
        await writeDrillKeys(path.join(dir, 'hostC', 'standby-drill-keys')),
      ),
    },
  };
  fs.writeFileSync(withStandby, JSON.stringify(cConfig));
  const standing = spawnTsx('worker/agent.ts', {
    LIFEBOAT_AGENT_CONFIG: withStandby,
    TEMPORAL_ADDRESS: process.env.LIFEBOAT_TEST_ADDRESS!,
    LIFEBOAT_TASK_QUEUE: tw.taskQueue,
  });
  expect(await standing.exited).toBe(2);
  expect(standing.output()).toMatch(
    /agent 'hostC' stands by for 'rootB', which the control plane's config does not allow: add it to agents\.hostC\.standby/,
  );

  const refused = claim();
  expect(await refused.exited).toBe(2);
  expect(refused.output()).toMatch(/target 'storeA' is held by agent 'hostA'; agent 'hostC' claims it too/);

  const env = { LIFEBOAT_TASK_QUEUE: tw.taskQueue };
  // A backup of host A's root before host A is gone: what its new host restores.
  expect(((await (await run('fullBackup', 'rootA')).result()) as RunOutcome).state).toBe('completed');
  const forgot = await lifeboat(['agents', 'forget', 'hostA', '--as', 'ops'], env);
  expect(forgot.stdout).toMatch(/forgot agent hostA; released rootA, storeA, storeA2/);
  const unknown = await lifeboat(['agents', 'forget', 'hostZ', '--as', 'ops'], env);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/no agent 'hostZ' in the registry; known agents: hostB/);
  await startAgent('hostC', hostFiles.hostC);
  // Host A's backup, restored by host C from the shared repository: its catalog adopts it first.
  const restored = await run('restore', 'rootA');
  const outcome = (await restored.result()) as RunOutcome;
  expect(outcome.state).toBe('completed');
  const original = path.join(dir, 'hostA', 'rootA', 'root');
  expectSameTree(path.join(dir, 'hostC', 'rootA', 'root'), treeState(original), dbRows(original));
  // The control plane's catalog: host A's backups of rootA, now held by host C, which adopted them.
  const cp = new Catalog(path.join(dir, 'catalog.sqlite'), { readonly: true });
  try {
    expect(cp.list('rootA').length).toBeGreaterThan(0);
    expect(new Set(cp.list('rootA').map((e) => e.heldBy))).toEqual(new Set(['hostC']));
  } finally {
    cp.close();
  }
  const by = await startedBy(restored.workflowId);
  expect([...(by.get('adoptRepository') ?? [])]).toEqual([
    expect.stringContaining(agentIdentity('hostC', agents.hostC.child)),
  ]);
  // Host A, forgotten, announces itself again (every 10 s here): refused, with the key it had.
  expect(await agents.hostA.exited).toBe(2);
  expect(agents.hostA.output()).toMatch(
    /the control plane refused it: agent 'hostA' was forgotten at \S+ by ops, and this is the key it had: to let it back, give it a new key \(agents\.hostA\.publicKey\)/,
  );
  const ledger = new AuditLedger(path.join(dir, 'audit.sqlite'), { readonly: true });
  try {
    expect(ledger.rowsOf('agent.forgotten').map((r) => [r.actor, JSON.parse(r.details)])).toEqual([
      ['ops', { targets: ['rootA', 'storeA', 'storeA2'] }],
    ]);
    expect(ledger.rowsOf('agent.announced').map((r) => r.actor)).toEqual(
      expect.arrayContaining(['hostA', 'hostB', 'hostC']),
    );
  } finally {
    ledger.close();
  }
}, 120_000);

test('an agent of an older build that lacks an activity: the run waits naming the agent, its build and the activity', async () => {
  // As an older agent would have registered itself: without the activities of this version.
  const registry = new Registry(path.join(dir, 'catalog.sqlite'));
  try {
    registry.announce(
      {
        kind: 'lifeboat.agent',
        version: 1,
        agent: 'oldAgent',
        host: 'old-host',
        build: 'lifeboat 0.9.0 (old)',
        pid: 1,
        taskQueue: `${tw.taskQueue}-agent-oldAgent`,
        timeoutSeconds: 5,
        activities: ['checkTargetHealth'],
        targets: [{ name: 'rootOld', sections: ['encryption', 'repository', 'root'], labels: {} }],
        at: new Date().toISOString(),
      },
      null,
      new Map(),
    );
  } finally {
    registry.close();
  }
  const handle = await run('fullBackup', 'rootOld');
  const waiting = await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.waiting?.kind === 'failure',
    'the run to wait',
  );
  expect(waiting.waiting!.errorType).toBe('AgentLacksActivity');
  expect(waiting.waiting!.reason).toMatch(
    /agent 'oldAgent' \(lifeboat 0\.9\.0 \(old\)\) has no activity '\w+', which this step needs: upgrade the agent/,
  );
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'ops', reason: 'agent too old' }] });
});

test('the CLI reads the registry read-only, and a catalog from before agents lists no agent', async () => {
  const old = tempDir('agents-old-catalog');
  const { config } = writeConfig(old, {
    auditLedger: 'audit.sqlite',
    targets: { own: storeTargetConfig(path.join(old, 'own')) },
  });
  new Catalog(config.catalog).close(); // a catalog with its own tables only
  expect(await readRegistry(config)).toEqual({
    agents: [],
    targets: [{ target: 'own', agent: 'control-plane', labels: {}, sections: [] }],
  });
});
