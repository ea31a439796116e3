/**
 * `lifeboat schedule …` against the real dev server: schedules created, listed, paused, triggered
 * and deleted through the CLI and seen through the Temporal client; the procedure's preset; bad
 * input refused before anything is created; and, with a worker, a scheduled backup that finds its
 * target busy ending as skipped instead of waiting for a person.
 */
import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';
import type { TypedSearchAttributes } from '@temporalio/common';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SA_RUNBOOK_NAME, SA_RUNBOOK_TARGET } from '../common/constants';
import { statusQuery, stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import { findRunbook } from '../runbooks/registry';
import { main } from '../client/cli';
import { CliError } from '../client/runs';
import { parseCron } from '../client/schedules';
import type { BackupResult, BusySkipped } from '../runbooks/backupSteps';
import { writeStorageRoot } from '../scripts/storage-root';
import {
  eventually,
  lifeboat,
  serverAddress,
  startWorker,
  statusWhen,
  tempDir,
  uniqueQueue,
  writeConfig,
  type CliResult,
  type TestWorker,
} from './helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_SCHEDULES_PASSPHRASE';
const suffix = Math.random().toString(36).slice(2, 7);
const VAULT = `vault-${suffix}`;
const LEDGER = `ledger-${suffix}`;
const PLAIN = `plain-${suffix}`;
const BUSY = `busy-${suffix}`;
// lifeboat-self's schedules come along with any target's preset (this file is the only one that presets it).
const MINE = [VAULT, LEDGER, PLAIN, BUSY, 'lifeboat-self'];

let dir: string;
let configFile: string;
let config: ReturnType<typeof writeConfig>['config'];
let client: Client;
let connection: Connection;
/** A task queue no worker polls: runs started by the schedules stay where the test can see them. */
const idleQueue = uniqueQueue('schedules-idle');

/** The file BUSY's quiesce command waits for (see the config). */
const quiesceRelease = () => path.join(dir, BUSY, 'quiesce-released');

/** A daily cron expression (UTC) whose next run is twelve hours from now. */
function halfADayAway(): string {
  const now = new Date();
  return `${now.getUTCMinutes()} ${(now.getUTCHours() + 12) % 24} * * *`;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return lifeboat(args, { LIFEBOAT_CONFIG: configFile, LIFEBOAT_TASK_QUEUE: idleQueue, ...env });
}

function drill(name: string, commands: Record<string, unknown> = {}) {
  return {
    directory: path.join(dir, 'drills', name),
    signingKey: path.join(dir, 'keys', 'drill.sec.asc'),
    publicKey: path.join(dir, 'keys', 'drill.pub.asc'),
    commands,
  };
}

function backupTarget(name: string, extra: Record<string, unknown> = {}) {
  return {
    root: path.join(dir, name, 'root'),
    repository: path.join(dir, name, 'repo'),
    encryption: { passphraseEnv: PASSPHRASE_ENV },
    ...extra,
  };
}

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'schedules-test-passphrase';
  dir = tempDir('schedules');
  writeStorageRoot(path.join(dir, BUSY, 'root'), { seed: 3 });
  const app = path.join(dir, LEDGER, 'app');
  ({ file: configFile, config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    selfBackup: { repository: path.join(dir, 'self-backups'), encryption: { passphraseEnv: PASSPHRASE_ENV } },
    targets: {
      [VAULT]: backupTarget(VAULT, { drill: drill(VAULT), offsite: path.join(dir, VAULT, 'offsite') }),
      [LEDGER]: {
        panic: {
          flag: path.join(app, 'data', 'PANIC'),
          ledger: path.join(app, 'data', 'ledger.db'),
          ledgerBackups: path.join(app, 'backup'),
          proofs: path.join(app, 'proof'),
        },
        health: { url: 'http://127.0.0.1:9/healthz' },
        commands: {
          stop: { argv: ['true'] },
          start: { argv: ['true'] },
          rebuildNonceStore: { argv: ['true'] },
        },
        drill: drill(LEDGER, {
          stop: { argv: ['true'] },
          start: { argv: ['true'] },
          rebuildNonceStore: { argv: ['true'] },
        }),
      },
      [PLAIN]: {
        store: { primary: path.join(dir, PLAIN, 'graph.json'), backups: path.join(dir, PLAIN, 'backups') },
      },
      // The quiesce command waits for the test to release it: the backup holds the lock till then.
      [BUSY]: backupTarget(BUSY, {
        commands: {
          quiesce: {
            argv: ['sh', '-c', 'until [ -e "$0" ]; do sleep 0.05; done', quiesceRelease()],
            timeoutSeconds: 120,
          },
        },
      }),
    },
  }));
  connection = await Connection.connect({ address: serverAddress() });
  client = new Client({ connection, namespace: 'default' });
});

afterAll(async () => {
  if (!client) return;
  for await (const s of client.schedule.list()) {
    const memo = s.memo?.lifeboat as { target?: string } | undefined;
    if (memo?.target && MINE.includes(memo.target)) {
      await client.schedule
        .getHandle(s.scheduleId)
        .delete()
        .catch(() => undefined);
    }
  }
  for await (const wf of client.workflow.list({
    query: `TaskQueue = '${idleQueue}' AND ExecutionStatus = 'Running'`,
  }))
    await client.workflow.getHandle(wf.workflowId, wf.runId).terminate('test cleanup');
  await connection.close();
});

async function scheduleOf(id: string) {
  return client.schedule.getHandle(id).describe();
}

async function gone(id: string): Promise<boolean> {
  try {
    await scheduleOf(id);
    return false;
  } catch (err) {
    expect(err).toBeInstanceOf(ScheduleNotFoundError);
    return true;
  }
}

test('create with --cron and with --every: the action starts the runbook on the task queue, never twice at once, and list shows both', async () => {
  const cron = await cli(['schedule', 'create', 'fullBackup', '--target', VAULT, '--cron', '0 2 * * *']);
  expect(cron.stderr).toContain('next run');
  expect(cron).toMatchObject({ code: 0, stdout: `fullBackup-${VAULT}\n` });
  const every = await cli([
    'schedule',
    'create',
    'verifyBackup',
    '--target',
    VAULT,
    '--every',
    '90m',
    '--id',
    `${VAULT}-verify`,
    '--input',
    '{"backupId": "all"}',
  ]);
  expect(every).toMatchObject({ code: 0, stdout: `${VAULT}-verify\n` });

  const full = await scheduleOf(`fullBackup-${VAULT}`);
  expect(full.action).toMatchObject({
    type: 'startWorkflow',
    workflowType: 'fullBackup',
    workflowId: `fullBackup-${VAULT}`,
    taskQueue: idleQueue,
    // fullBackup takes the target's lock: a scheduled run that finds it held ends as skipped.
    args: [{ target: VAULT, onBusy: 'skip' }],
  });
  const actionAttributes = full.action.typedSearchAttributes as TypedSearchAttributes;
  expect(actionAttributes.get(SA_RUNBOOK_NAME)).toBe('fullBackup');
  expect(actionAttributes.get(SA_RUNBOOK_TARGET)).toBe(VAULT);
  expect(full.typedSearchAttributes.get(SA_RUNBOOK_TARGET)).toBe(VAULT);
  expect(full.policies.overlap).toBe('SKIP');
  expect(full.spec.calendars).toHaveLength(1);
  expect(full.spec.calendars![0]).toMatchObject({
    minute: [{ start: 0, end: 0, step: 1 }],
    hour: [{ start: 2, end: 2, step: 1 }],
  });
  expect(full.info.nextActionTimes[0].getUTCHours()).toBe(2);

  const verify = await scheduleOf(`${VAULT}-verify`);
  // verifyBackup does not take the lock, so it gets no onBusy.
  expect(verify.action.args).toEqual([{ target: VAULT, backupId: 'all' }]);
  expect(verify.spec.intervals).toMatchObject([{ every: 90 * 60 * 1000 }]);

  const listed = await cli(['schedule', 'list', '--target', VAULT, '--json']);
  expect(listed.code).toBe(0);
  const rows = JSON.parse(listed.stdout) as { scheduleId: string }[];
  expect(rows).toHaveLength(2);
  // The clock may pass a 90-minute mark or 02:00 UTC while the test runs: what the schedules say
  // after the list bounds what it may have shown.
  const [verifyAfter, fullAfter] = await Promise.all([
    scheduleOf(`${VAULT}-verify`),
    scheduleOf(`fullBackup-${VAULT}`),
  ]);
  const neverRan = verifyAfter.info.recentActions.length === 0;
  expect(rows).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        scheduleId: `${VAULT}-verify`,
        runbook: 'verifyBackup',
        target: VAULT,
        spec: 'every 90m',
        paused: false,
        ...(neverRan ? { lastRun: null } : {}),
      }),
      expect.objectContaining({
        scheduleId: `fullBackup-${VAULT}`,
        runbook: 'fullBackup',
        target: VAULT,
        spec: 'cron 0 2 * * * (UTC)',
        paused: false,
      }),
    ]),
  );
  const nextRun = (rows as { scheduleId: string; nextRun?: string }[]).find(
    (r) => r.scheduleId === `fullBackup-${VAULT}`,
  )?.nextRun;
  expect([full, fullAfter].map((s) => s.info.nextActionTimes[0].toISOString())).toContain(nextRun);
  const text = await cli(['schedule', 'list', '--target', VAULT]);
  expect(text.stdout).toContain(`fullBackup-${VAULT}  fullBackup → ${VAULT}  cron 0 2 * * * (UTC)`);

  // What the Temporal UI's Schedules page and `temporal schedule list` read, filtered by target.
  const seen = await eventually(async () => {
    const ids: string[] = [];
    for await (const s of client.schedule.list({ query: `RunbookTarget = '${VAULT}'` }))
      ids.push(s.scheduleId);
    return ids.length === 2 ? ids.sort() : undefined;
  }, 'both schedules in the visibility store');
  expect(seen).toEqual([`${VAULT}-verify`, `fullBackup-${VAULT}`].sort());
});

test('pause and unpause with a note, trigger starts a run (refused while it runs), delete', async () => {
  const id = `${VAULT}-steer`;
  expect(
    // Daily, at a time half a day away: it never fires by itself while the test holds a run.
    (
      await cli([
        'schedule',
        'create',
        'incrementalBackup',
        '--target',
        VAULT,
        '--cron',
        halfADayAway(),
        '--id',
        id,
      ])
    ).code,
  ).toBe(0);

  expect(await cli(['schedule', 'pause', id, '--note', 'storage migration until Friday'])).toMatchObject({
    code: 0,
    stdout: `paused ${id}\n`,
  });
  expect((await scheduleOf(id)).state).toMatchObject({
    paused: true,
    note: 'storage migration until Friday',
  });
  expect((await cli(['schedule', 'list', '--target', VAULT])).stdout).toContain(
    'PAUSED (storage migration until Friday)',
  );
  expect((await cli(['schedule', 'unpause', id, '--note', 'migration done'])).code).toBe(0);
  expect((await scheduleOf(id)).state).toMatchObject({ paused: false, note: 'migration done' });

  const triggered = await cli(['schedule', 'trigger', id]);
  expect(triggered.code).toBe(0);
  const workflowId = triggered.stdout.trim();
  expect(workflowId.startsWith(`incrementalBackup-${VAULT}-`)).toBe(true);
  const run = await client.workflow.getHandle(workflowId).describe();
  expect(run).toMatchObject({ type: 'incrementalBackup', taskQueue: idleQueue });
  expect(run.status.name).toBe('RUNNING');
  const listedRuns = await eventually(async () => {
    const found: string[] = [];
    for await (const wf of client.workflow.list({
      query: `RunbookName = 'incrementalBackup' AND RunbookTarget = '${VAULT}'`,
    }))
      found.push(wf.workflowId);
    return found.includes(workflowId) ? found : undefined;
  }, 'the triggered run listed by its search attributes');
  expect(listedRuns).toContain(workflowId);

  // No worker polls the idle queue, so the run is still going: a second one is refused.
  const [again, listed] = await Promise.all([
    cli(['schedule', 'trigger', id]),
    cli(['schedule', 'list', '--target', VAULT]),
  ]);
  expect(again.code).toBe(2);
  expect(again.stderr).toContain(`schedule '${id}' has a run in progress (${workflowId})`);
  expect(listed.stdout).toContain(`last running ${workflowId}`);
  await client.workflow.getHandle(workflowId).terminate('test: done with it');

  expect(await cli(['schedule', 'delete', id])).toMatchObject({ code: 0, stdout: `deleted ${id}\n` });
  expect(await gone(id)).toBe(true);
});

test('the cron parser takes 5 fields with ranges, lists, steps, names and macros, and names what it refuses', () => {
  const accepted: [string, string][] = [
    ['0 2 * * *', '0 2 * * *'],
    ['15 * * * *', '15 * * * *'],
    ['*/15 8-18 * * MON-FRI', '*/15 8-18 * * MON-FRI'],
    ['0 5 1 JAN,APR,jul,10 *', '0 5 1 JAN,APR,jul,10 *'],
    ['5/10 0-23/2 1,15 * 0', '5/10 0-23/2 1,15 * 0'],
    ['0 0 29 2 *', '0 0 29 2 *'],
    ['@hourly', '0 * * * *'],
    ['@daily', '0 0 * * *'],
    ['@weekly', '0 0 * * 0'],
    ['@monthly', '0 0 1 * *'],
    ['@yearly', '0 0 1 1 *'],
  ];
  for (const [expression, parsed] of accepted) expect(parseCron(expression)).toBe(parsed);
  const refusedWith = (expression: string) => {
    try {
      parseCron(expression);
    } catch (err) {
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(2);
      expect((err as Error).message).toContain(`--cron '${expression}' does not parse: `);
      return (err as Error).message;
    }
    throw new Error(`'${expression}' was accepted`);
  };
  expect(refusedWith('61 * * * *')).toContain('minute 61 is out of range (allowed: 0-59)');
  expect(refusedWith('0 2 * *')).toContain('it has 4 fields, not 5');
  expect(refusedWith('0 0 0 2 * *')).toContain('it has 6 fields, not 5');
  expect(refusedWith('0 2 * * FUNDAY')).toContain(
    "day of week 'FUNDAY' is not a number (allowed: 0-6 (0 = Sunday) or SUN-SAT)",
  );
  expect(refusedWith('0 2 * * 7')).toContain('day of week 7 is out of range');
  expect(refusedWith('0 2 0 * *')).toContain('day of month 0 is out of range (allowed: 1-31)');
  expect(refusedWith('0 2 * 13 *')).toContain('month 13 is out of range (allowed: 1-12 or JAN-DEC)');
  expect(refusedWith('*/0 * * * *')).toContain("minute step '0' must be a whole number of at least 1");
  expect(refusedWith('0 12-3 * * *')).toContain("hour range '12-3' runs backwards");
  expect(refusedWith('0 1-2-3 * * *')).toContain("hour '1-2-3' is not a value, range");
  expect(refusedWith('0 2,,3 * * *')).toContain("hour '' is not a value");
  expect(refusedWith('0 0 31 2,4 *')).toContain('never runs');
  expect(refusedWith('@fortnightly')).toContain("unknown macro '@fortnightly'");
  expect(refusedWith('every day')).toContain('it has 2 fields');
});

/** The CLI's dispatcher in this process (for the many refusals; the real process is used above). */
async function inProcess(args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    [...args, '--address', serverAddress()],
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, stdout: out.map((l) => `${l}\n`).join(''), stderr: err.join('\n') };
}

test('bad input is refused with exit code 2, naming what is wrong, and creates nothing', async () => {
  const create = (...args: string[]) => cli(['schedule', 'create', ...args]);
  const createHere = (...args: string[]) =>
    inProcess(['schedule', 'create', ...args, '--config', configFile]);
  const bad = `${VAULT}-bad`;
  const twice = `${VAULT}-twice`;
  expect((await createHere('healthCheck', '--target', VAULT, '--cron', '@yearly', '--id', twice)).code).toBe(
    0,
  );
  const before = await scheduleOf(twice);

  // Real processes, at once; then the finer cases through the same dispatcher in this process.
  const cases: [Promise<CliResult>, string][] = [
    [
      create('healthCheck', '--target', VAULT, '--id', bad, '--cron', '61 * * * *'),
      "--cron '61 * * * *' does not parse: minute 61 is out of range (allowed: 0-59)",
    ],
    // The client accepts the zone's name, the server does not: still exit 2, naming the flag.
    [
      create('healthCheck', '--target', VAULT, '--id', bad, '--cron', '0 2 * * *', '--timezone', 'utc'),
      "--timezone 'utc' was refused by the server",
    ],
    [
      create('healthCheck', '--target', VAULT, '--id', bad, '--cron', '@daily', '--every', '1h'),
      'give exactly one of --cron <expr> or --every <duration>',
    ],
    [create('healthCheck', '--target', VAULT, '--id', bad), 'give exactly one of --cron'],
    [create('nightlyMagic', '--target', VAULT, '--every', '1h'), "unknown runbook 'nightlyMagic'"],
    [
      create('verifyBackup', '--target', VAULT, '--every', '1h', '--input', '{"backupId": 7}'),
      'input.backupId must be a string (got number)',
    ],
    [create('fullBackup', '--target', 'nowhere', '--every', '1h'), "unknown target 'nowhere'"],
    [
      create('healthCheck', '--target', VAULT, '--every', '5m', '--id', twice),
      `schedule '${twice}' exists already; delete it or choose --id`,
    ],
    [cli(['schedule', 'pause', `${VAULT}-no-such`]), `no schedule '${VAULT}-no-such'`],
  ];
  const results = await Promise.all(cases.map(([r]) => r));
  for (const more of [
    [
      createHere('healthCheck', '--target', VAULT, '--id', bad, '--every', 'soon'),
      "--every 'soon' is not a duration",
    ],
    [
      createHere('fullBackup', '--target', VAULT, '--every', '1h', '--input', '{"onBusy": "sometimes"}'),
      "input.onBusy must be one of stop, skip (got 'sometimes')",
    ],
    [
      createHere('fullBackup', '--target', VAULT, '--every', '1h', '--input', '{"paths": ["x"]}'),
      'input.paths is not a field of fullBackup',
    ],
    [
      createHere('fullBackup', '--target', VAULT, '--every', '1h', '--input', '{oops'),
      '--input is not valid JSON',
    ],
    [
      createHere('fullBackup', '--target', PLAIN, '--every', '1h'),
      `target '${PLAIN}' has no 'root', 'repository', 'encryption' section in the worker config; fullBackup needs them`,
    ],
    ...['unpause', 'trigger', 'delete'].map((verb) => [
      inProcess(['schedule', verb, `${VAULT}-no-such`]),
      `no schedule '${VAULT}-no-such'`,
    ]),
  ] as [Promise<CliResult>, string][]) {
    cases.push(more);
    results.push(await more[0]);
  }
  for (const [i, r] of results.entries()) {
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toContain(cases[i][1]);
  }

  expect(await gone(bad)).toBe(true);
  expect(await gone(`fullBackup-nowhere`)).toBe(true);
  expect(await gone(`verifyBackup-${VAULT}`)).toBe(true);
  expect(await gone(`fullBackup-${PLAIN}`)).toBe(true);
  expect((await scheduleOf(twice)).spec).toEqual(before.spec);
  expect((await inProcess(['schedule', 'delete', twice])).code).toBe(0);
});

test("preset creates the procedure's cadence where the target's config allows it, leaves existing ones alone", async () => {
  const drDrill = findRunbook('drDrill');
  expect(drDrill).toBeDefined();
  const drillOnBusy = 'onBusy' in drDrill!.input ? { onBusy: 'skip' } : {};

  const first = await cli(['schedule', 'preset', VAULT]);
  expect(first.code).toBe(0);
  const lines = first.stdout.trim().split('\n');
  expect(lines).toHaveLength(9);
  for (const kind of [
    'full-backup',
    'incremental-backup',
    'verify-backups',
    'restore-drill',
    'disaster-drill',
    'host-loss-drill',
  ])
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^created +${VAULT}-${kind} `)));
  // Lifeboat's own stores come along: their backups (a drill does not fit them, and is not listed).
  for (const kind of ['full-backup', 'incremental-backup', 'verify-backups'])
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^created +lifeboat-self-${kind} `)));
  expect((await scheduleOf('lifeboat-self-full-backup')).action.args).toEqual([
    { target: 'lifeboat-self', onBusy: 'skip' },
  ]);

  const expected: Record<string, { workflowType: string; args: unknown[]; hour: number; minute: number }> = {
    'full-backup': {
      workflowType: 'fullBackup',
      args: [{ target: VAULT, onBusy: 'skip' }],
      hour: 2,
      minute: 0,
    },
    'incremental-backup': {
      workflowType: 'incrementalBackup',
      args: [{ target: VAULT, onBusy: 'skip' }],
      hour: -1,
      minute: 15,
    },
    'verify-backups': {
      workflowType: 'verifyBackup',
      args: [{ target: VAULT, backupId: 'all' }],
      hour: 3,
      minute: 0,
    },
    'restore-drill': {
      workflowType: 'drDrill',
      args: [{ target: VAULT, scenario: 'fullRestore', ...drillOnBusy }],
      hour: 4,
      minute: 0,
    },
    // No panic section: the quarterly disaster is damaged files.
    'disaster-drill': {
      workflowType: 'drDrill',
      args: [{ target: VAULT, scenario: 'corruptFiles', ...drillOnBusy }],
      hour: 5,
      minute: 0,
    },
    'host-loss-drill': {
      workflowType: 'drDrill',
      args: [{ target: VAULT, scenario: 'hostLoss', ...drillOnBusy }],
      hour: 5,
      minute: 0,
    },
  };
  for (const [kind, want] of Object.entries(expected)) {
    const d = await scheduleOf(`${VAULT}-${kind}`);
    expect(d.action).toMatchObject({
      workflowType: want.workflowType,
      args: want.args,
      taskQueue: idleQueue,
    });
    expect(d.policies.overlap).toBe('SKIP');
    const cal = d.spec.calendars![0];
    expect(cal.minute).toEqual([{ start: want.minute, end: want.minute, step: 1 }]);
    if (want.hour >= 0) expect(cal.hour).toEqual([{ start: want.hour, end: want.hour, step: 1 }]);
  }
  const weekly = (await scheduleOf(`${VAULT}-verify-backups`)).spec.calendars![0];
  expect(weekly.dayOfWeek).toEqual([{ start: 'SUNDAY', end: 'SUNDAY', step: 1 }]);
  const monthly = (await scheduleOf(`${VAULT}-restore-drill`)).spec.calendars![0];
  expect(monthly.dayOfMonth).toEqual([{ start: 1, end: 1, step: 1 }]);
  const quarterly = (await scheduleOf(`${VAULT}-disaster-drill`)).spec.calendars![0];
  expect(quarterly.month.map((m) => m.start)).toEqual(['JANUARY', 'APRIL', 'JULY', 'OCTOBER']);
  expect(quarterly.dayOfMonth).toEqual([{ start: 1, end: 1, step: 1 }]);

  // Again: every schedule exists and is left as it was.
  const again = await cli(['schedule', 'preset', VAULT, '--json']);
  expect(again.code).toBe(0);
  const results = JSON.parse(again.stdout) as { outcome: string }[];
  expect(results.map((r) => r.outcome)).toEqual(Array(9).fill('exists'));

  // A panic target without backups: only the disaster drill fits, and it deletes the ledger.
  const ledger = await cli(['schedule', 'preset', LEDGER, '--json']);
  expect(ledger.code).toBe(0);
  const byKind = Object.fromEntries(
    (JSON.parse(ledger.stdout) as { target: string; kind: string; outcome: string; reason?: string }[])
      .filter((r) => r.target === LEDGER)
      .map((r) => [r.kind, r]),
  );
  expect(byKind['full-backup']).toMatchObject({ outcome: 'skipped' });
  expect(byKind['full-backup'].reason).toContain("no 'root', 'repository', 'encryption' sections");
  expect(byKind['verify-backups'].reason).toContain("no 'repository', 'encryption' sections");
  expect(byKind['restore-drill']).toMatchObject({ outcome: 'skipped' });
  expect(byKind['restore-drill'].reason).toContain('the fullRestore drill runs restore in a sandbox');
  expect(byKind['disaster-drill']).toMatchObject({ outcome: 'created' });
  expect((await scheduleOf(`${LEDGER}-disaster-drill`)).action.args).toEqual([
    { target: LEDGER, scenario: 'deleteLedger', ...drillOnBusy },
  ]);
  const text = await cli(['schedule', 'preset', LEDGER]);
  expect(text.stdout).toMatch(
    new RegExp(`^skipped +${LEDGER}-full-backup +fullBackup: daily full backup`, 'm'),
  );

  // Nothing of its own fits: exit 2, though lifeboat-self's schedules (which exist) came along.
  const nothing = await cli(['schedule', 'preset', PLAIN]);
  expect(nothing.code).toBe(2);
  expect(nothing.stdout).toMatch(/^exists +lifeboat-self-full-backup /m);
  expect(nothing.stderr).toContain(`nothing of the preset`);
  expect(nothing.stdout).toContain("no 'drill' section");
  const unknown = await cli(['schedule', 'preset', 'nowhere']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain("unknown target 'nowhere'");
});

describe('with a worker: a scheduled backup never runs beside another on its target', () => {
  let tw: TestWorker;
  beforeAll(async () => {
    tw = await startWorker(config, uniqueQueue('schedules'));
  });
  afterAll(async () => {
    // A backup left waiting in its quiesce command (a failed test) ends, so the worker can stop.
    fs.writeFileSync(quiesceRelease(), '');
    await tw?.stop();
  });

  test('the hourly incremental firing during the full backup ends as skipped naming it; later it runs', async () => {
    const env = { LIFEBOAT_TASK_QUEUE: tw.taskQueue };
    const id = `${BUSY}-incremental`;
    // Hourly at a minute half an hour away: only the test's triggers start it.
    const minute = (new Date().getUTCMinutes() + 30) % 60;
    expect(
      (
        await cli(
          [
            'schedule',
            'create',
            'incrementalBackup',
            '--target',
            BUSY,
            '--cron',
            `${minute} * * * *`,
            '--id',
            id,
          ],
          env,
        )
      ).code,
    ).toBe(0);

    fs.rmSync(quiesceRelease(), { force: true });
    const full = await tw.client.workflow.start('fullBackup', {
      taskQueue: tw.taskQueue,
      workflowId: `fullBackup-${BUSY}-by-hand`,
      args: [{ target: BUSY }],
    });
    try {
      // The full backup holds the lock in its quiesce command until the release below.
      await statusWhen(
        tw.client,
        full.workflowId,
        (s) => s.currentStep === 'quiesce',
        'the full backup to hold the lock',
      );
      const triggered = await cli(['schedule', 'trigger', id], env);
      expect(triggered.code).toBe(0);
      const skipped = (await tw.client.workflow
        .getHandle(triggered.stdout.trim())
        .result()) as RunOutcome<BusySkipped>;
      expect(skipped.state).toBe('completed');
      expect(skipped.result!.outcome).toBe('skipped');
      expect(skipped.result!.reason).toMatch(
        new RegExp(`^target busy: workflow ${full.workflowId} \\(fullBackup\\) since `),
      );
      expect(skipped.status.waiting).toBeUndefined();
      expect(skipped.status.decisions).toEqual([]);
      // Still held: the full backup has not moved past its quiesce command.
      const holding = await tw.client.workflow.getHandle(full.workflowId).query(statusQuery);
      expect(holding.currentStep).toBe('quiesce');
    } finally {
      fs.writeFileSync(quiesceRelease(), '');
    }

    const done = (await full.result()) as RunOutcome<BackupResult>;
    expect(done.state).toBe('completed');
    expect(done.result!.kind).toBe('full');
    const list = await cli(['schedule', 'list', '--target', BUSY], env);
    expect(list.stdout).toContain(
      `last completed (skipped: target busy: workflow ${full.workflowId} (fullBackup)`,
    );

    // The target free again, the next trigger makes the incremental on top of the full backup.
    const next = await cli(['schedule', 'trigger', id], env);
    expect(next.code).toBe(0);
    const made = (await tw.client.workflow
      .getHandle(next.stdout.trim())
      .result()) as RunOutcome<BackupResult>;
    expect(made.state).toBe('completed');
    expect(made.result).toMatchObject({ kind: 'incremental', parent: done.result!.backupId });
  });

  test("onBusy 'skip' still waits at breakLock when the lock's holder is dead", async () => {
    const repo = path.join(dir, BUSY, 'repo');
    fs.mkdirSync(repo, { recursive: true });
    fs.writeFileSync(
      path.join(repo, '.lifeboat.lock'),
      JSON.stringify({
        workflowId: 'dead-run',
        runId: 'r',
        purpose: 'fullBackup',
        host: os.hostname(),
        pid: 2 ** 22 + 4321,
        acquiredAt: '2026-11-20T00:00:00Z',
      }),
    );
    const run = await tw.client.workflow.start('fullBackup', {
      taskQueue: tw.taskQueue,
      workflowId: `fullBackup-${BUSY}-stale`,
      args: [{ target: BUSY, onBusy: 'skip' }],
    });
    const gate = await statusWhen(
      tw.client,
      run.workflowId,
      (s) => s.state === 'waiting',
      'the breakLock gate',
    );
    expect(gate.waiting).toMatchObject({ kind: 'gate', gate: 'breakLock' });
    expect(gate.waiting!.reason).toMatch(/held by workflow dead-run .* whose process is gone/);
    await run.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'test over' }] });
    expect(((await run.result()) as RunOutcome).state).toBe('stopped');
  });
});
