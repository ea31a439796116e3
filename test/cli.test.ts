/**
 * The `lifeboat` CLI as a real process against the suite's dev server and an in-process worker:
 * the happy path an operator follows, and every bad input with its exit code 2 and message.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeStoreFixture } from '../scripts/demo-data';
import { COMMANDS, commandGroups, main } from '../client/cli';
import { freePort } from './ports';
import {
  lifeboat,
  snapshotTree,
  startWorker,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';

let dir: string;
let configFile: string;
let tw: TestWorker;
let env: Record<string, string>;

beforeAll(async () => {
  dir = tempDir('cli');
  const targets: Record<string, unknown> = {};
  for (const name of ['happy', 'gated', 'quorum', 'stopme']) {
    writeStoreFixture(path.join(dir, name), 'corrupt', ['intact']);
    targets[name] = storeTargetConfig(
      path.join(dir, name),
      name === 'quorum'
        ? { restore: { approvers: ['alice', 'bob'], quorum: 2 } }
        : { restore: { approvers: ['alice', 'bob'] } },
    );
  }
  writeStoreFixture(path.join(dir, 'intact'), 'intact', ['intact']);
  targets.intact = storeTargetConfig(path.join(dir, 'intact'));
  const written = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  configFile = written.file;
  tw = await startWorker(written.config, uniqueQueue('cli'));
  env = { LIFEBOAT_TASK_QUEUE: tw.taskQueue, LIFEBOAT_CONFIG: configFile };
});

afterAll(async () => {
  await tw?.stop();
});

const run = (...args: string[]) => lifeboat(args, env);

async function startWaiting(target: string): Promise<string> {
  const started = await run('start', 'corruptedStoreRecovery', '--target', target);
  expect(started.stderr).toMatch(/started/);
  expect(started.code).toBe(0);
  const id = started.stdout.trim();
  await statusWhen(tw.client, id, (s) => s.state === 'waiting', `${target} waiting`);
  return id;
}

test('an operator starts a run, sees it wait, lists it, approves it, watches it finish and reads its audit', async () => {
  const id = await startWaiting('happy');
  expect(id).toMatch(/^corruptedStoreRecovery-happy-\d{8}T\d{6}Z-[a-z0-9]{4}$/);

  const status = await run('status', id);
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(/state WAITING/);
  expect(status.stdout).toMatch(/WAITING at gate 'restore'/);
  expect(status.stdout).toMatch(/approvals: 0 of 1; approvers: alice, bob/);
  expect(status.stdout).toMatch(/waiting +gate:restore/);
  const json = JSON.parse((await run('status', id, '--json')).stdout) as {
    state: string;
    waiting: { gate: string };
  };
  expect(json).toMatchObject({ state: 'waiting', waiting: { gate: 'restore' } });

  const listed = await run('list', '--state', 'waiting', '--runbook', 'corruptedStoreRecovery', '--json');
  expect(listed.code).toBe(0);
  expect((JSON.parse(listed.stdout) as { workflowId: string }[]).map((r) => r.workflowId)).toContain(id);

  const approved = await run('approve', id, '--as', 'alice', '--comment', 'looked at it');
  expect(approved).toMatchObject({ code: 0 });
  expect(approved.stdout).toMatch(/gate 'restore' opened/);

  const watched = await run('watch', id, '--interval', '0.2');
  expect(watched.code).toBe(0);
  expect(watched.stdout).toMatch(/succeeded gate:restore/);
  expect(watched.stdout).toMatch(/succeeded verifyRestored/);
  expect(watched.stdout).toMatch(/state: completed/);

  const audit = await run('audit', 'show', id);
  expect(audit.code).toBe(0);
  expect(audit.stdout).toMatch(/alice +decision\.approve \[gate:restore\]/);
  expect(audit.stdout).toMatch(/run\.completed/);
  const verify = await run('audit', 'verify');
  expect(verify.code).toBe(0);
  expect(verify.stdout).toMatch(/chain intact/);

  expect((await run('list', '--state', 'completed')).stdout).toContain(id);
});

test('runbooks lists each runbook with its input fields; every command has --help', async () => {
  const listed = await run('runbooks');
  expect(listed.code).toBe(0);
  expect(listed.stdout).toMatch(/corruptedStoreRecovery — Corrupted data store recovery/);
  expect(listed.stdout).toMatch(/target \(string, required\)/);
  expect(listed.stdout).toMatch(/gates: restore/);
  for (const cmd of COMMANDS) {
    const help = await lifeboat([...cmd.name.split(' '), '--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(`lifeboat ${cmd.name} `);
    expect(help.stdout).toMatch(/Examples:/);
  }
});

/** The `  <subcommand>  <summary>` lines of a group's help, as [subcommand, summary] pairs. */
function subcommandLines(help: string): [string, string][] {
  return help
    .split('\n')
    .map((line) => /^ {2}(\S+) +(.+)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1], m[2]]);
}

describe('a command group lists its subcommands, taken from the command table', () => {
  const groups = [...commandGroups()];
  const expected = (group: string) =>
    COMMANDS.filter((c) => c.name.startsWith(`${group} `)).map((c) => [
      c.name.slice(group.length + 1),
      c.summary,
    ]);

  test('the groups are the first words of the two-word commands', () => {
    expect(groups.map(([group]) => group)).toEqual(
      expect.arrayContaining(['audit', 'backups', 'drills', 'proof', 'archive', 'self', 'schedule']),
    );
    for (const cmd of COMMANDS.filter((c) => c.name.includes(' ')))
      expect(groups.some(([, cmds]) => cmds.includes(cmd))).toBe(true);
  });

  test('lifeboat <group> --help prints every subcommand with its summary and exits 0, for every group', async () => {
    for (const [group] of groups) {
      const help = await lifeboat([group, '--help'], env);
      expect({ group, code: help.code, stderr: help.stderr }).toEqual({ group, code: 0, stderr: '' });
      expect(help.stdout).toContain(`lifeboat ${group} <subcommand> [options]`);
      expect(subcommandLines(help.stdout)).toEqual(expected(group));
    }
  });

  test('-h is --help; a missing or unknown subcommand gets the same list on stderr and exit code 2', async () => {
    for (const [group] of groups) {
      const out: string[] = [];
      const err: string[] = [];
      const answer = async (...args: string[]) => {
        out.length = 0;
        err.length = 0;
        const code = await main(
          args,
          (l) => out.push(l),
          (l) => err.push(l),
        );
        return { code, out: out.join('\n'), err: err.join('\n') };
      };
      const short = await answer(group, '-h');
      expect({ group, code: short.code, err: short.err }).toEqual({ group, code: 0, err: '' });
      expect(subcommandLines(short.out)).toEqual(expected(group));

      const bare = await answer(group);
      expect({ group, code: bare.code, out: bare.out }).toEqual({ group, code: 2, out: '' });
      expect(bare.err).toMatch(new RegExp(`^lifeboat ${group}: missing subcommand\n`));
      expect(subcommandLines(bare.err)).toEqual(expected(group));

      const wrong = await answer(group, 'frobnicate', '--json');
      expect({ group, code: wrong.code }).toEqual({ group, code: 2 });
      expect(wrong.err).toMatch(new RegExp(`^lifeboat ${group}: unknown subcommand 'frobnicate'\n`));
      expect(subcommandLines(wrong.err)).toEqual(expected(group));
    }
  });
});

describe('bad input gets exit code 2 and a message naming the problem', () => {
  test('unknown runbook, unknown target, malformed JSON, a field of the wrong type', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['start', 'fixEverything', '--target', 'happy'],
        // The registry's order (by procedure), so only which names are listed is asserted.
        /unknown runbook 'fixEverything'; known runbooks: (?=.*\bcorruptedStoreRecovery\b)(?=.*\bfullBackup\b)/,
      ],
      [
        ['start', 'corruptedStoreRecovery', '--target', 'atlantis'],
        /refused the input .*unknown target 'atlantis'; the worker's config has: gated, happy, intact/,
      ],
      [
        ['start', 'corruptedStoreRecovery', '--target', 'happy', '--input', '{"target": '],
        /--input is not valid JSON/,
      ],
      [
        ['start', 'corruptedStoreRecovery', '--target', 'happy', '--input', '[1]'],
        /--input must be a JSON object/,
      ],
      [
        ['start', 'corruptedStoreRecovery', '--target', 'happy', '--input', '@/nonexistent/input.json'],
        /cannot read --input file \/nonexistent\/input\.json/,
      ],
      [
        ['start', 'corruptedStoreRecovery', '--target', 'happy', '--input', '{"verbose": 3}'],
        /input\.verbose is not a field of corruptedStoreRecovery/,
      ],
      [['start', 'corruptedStoreRecovery'], /--target is required/],
      [['start', 'corruptedStoreRecovery', '--target', 'happy', '--bogus'], /Unknown option '--bogus'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['schedule'], /^lifeboat schedule: missing subcommand\n\n.*\n\n {2}create +run a runbook/],
      [['schedule', 'frobnicate'], /^lifeboat schedule: unknown subcommand 'frobnicate'\n[^]* {2}preset +/],
      [['backups', '--json'], /^lifeboat backups: missing subcommand before '--json'\n[^]* {2}list +/],
      [
        ['list', '--state', 'sleeping'],
        /--state must be one of running, waiting, completed, stopped, failed, stuck, terminated, timed-out, cancelled \(got 'sleeping'\)/,
      ],
      [['status', 'no-such-run'], /no workflow with id 'no-such-run' in namespace 'default'/],
      [['approve', 'no-such-run', '--as', 'alice'], /no workflow with id 'no-such-run'/],
    ];
    for (const [args, message] of cases) {
      const result = await run(...args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  test('a field of the wrong type in --input is refused before anything starts', async () => {
    const result = await run(
      'start',
      'corruptedStoreRecovery',
      '--target',
      'happy',
      '--input',
      '{"target": 7}',
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--input names target '7' but --target is 'happy'/);
  });

  test('decisions that do not apply are refused and change nothing', async () => {
    const id = await startWaiting('gated');
    const before = await run('status', id, '--json');
    const cases: [string[], RegExp][] = [
      [
        ['approve', id, '--as', 'alice', '--gate', 'merge'],
        /approve refused: unknown gate 'merge'; corruptedStoreRecovery has gates: restore/,
      ],
      [
        ['approve', id, '--as', 'mallory'],
        /approve refused: 'mallory' may not approve gate 'restore'; allowed approvers: alice, bob/,
      ],
      [['approve', id], /--as is required/],
      [['retry', id, '--as', 'alice'], /retry refused: the run waits at gate 'restore', not after a failure/],
      [['skip', id, '--as', 'alice'], /skip refused: the run waits at gate 'restore'/],
      [['stop', id, '--as', 'alice'], /--reason is required/],
      [['stop', id, '--as', 'alice', '--reason', ''], /--reason is required/],
    ];
    for (const [args, message] of cases) {
      const result = await run(...args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(message);
    }
    const after = await run('status', id, '--json');
    expect(JSON.parse(after.stdout)).toEqual(JSON.parse(before.stdout));

    const stopped = await run('stop', id, '--as', 'bob', '--reason', 'wrong target');
    expect(stopped.code).toBe(0);
    await statusWhen(tw.client, id, (s) => s.state === 'stopped', 'stopped');
    const late = await run('approve', id, '--as', 'alice');
    expect(late.code).toBe(2);
    expect(late.stderr).toMatch(/the run has ended \(stopped\); no decision can change it/);
  });

  test('approve on a run that is not waiting, and the same approver twice toward a quorum', async () => {
    const intact = await run('start', 'corruptedStoreRecovery', '--target', 'intact');
    const intactId = intact.stdout.trim();
    await statusWhen(tw.client, intactId, (s) => s.state === 'completed', 'intact completes');
    const notWaiting = await run('approve', intactId, '--as', 'alice');
    expect(notWaiting.code).toBe(2);
    expect(notWaiting.stderr).toMatch(/the run has ended \(completed\)/);

    const id = await startWaiting('quorum');
    const first = await run('approve', id, '--as', 'alice');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/approval recorded \(1 of 2\); gate 'restore' needs 1 more/);
    const twice = await run('approve', id, '--as', 'alice');
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(
      /'alice' has already approved gate 'restore' \(1 of 2\); the quorum needs a different approver/,
    );
    const second = await run('approve', id, '--as', 'bob');
    expect(second.code).toBe(0);
    await statusWhen(tw.client, id, (s) => s.state === 'completed', 'quorum completes');
  });

  test('a stop with no reason changes nothing; with a reason the run ends as stopped and the files are as they were', async () => {
    const root = path.join(dir, 'stopme');
    const before = snapshotTree(root);
    const id = await startWaiting('stopme');
    expect((await run('stop', id, '--as', 'alice')).code).toBe(2);
    expect((await run('status', id, '--json')).stdout).toMatch(/"state": "waiting"/);
    const stopped = await run('stop', id, '--as', 'alice', '--reason', 'handled by hand');
    expect(stopped.code).toBe(0);
    const final = await statusWhen(tw.client, id, (s) => s.state === 'stopped', 'stopped');
    expect(final.decisions).toEqual([
      expect.objectContaining({ action: 'stop', actor: 'alice', comment: 'handled by hand' }),
    ]);
    expect(snapshotTree(root)).toEqual(before);
  });

  test('an unreachable Temporal server is named by its address, without a stack trace', async () => {
    const port = await freePort();
    const result = await lifeboat(['status', 'anything', '--address', `127.0.0.1:${port}`], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`cannot reach the Temporal server at 127\\.0\\.0\\.1:${port}`));
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  test('audit commands with a missing ledger or config say which file', async () => {
    const missing = await lifeboat(['audit', 'verify', '--ledger', path.join(dir, 'nope.sqlite')], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no audit ledger at .*nope\.sqlite/);
    const badConfig = path.join(dir, 'broken.json');
    fs.writeFileSync(badConfig, '{ not json');
    const broken = await lifeboat(['audit', 'verify', '--config', badConfig], env);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/invalid config .*broken\.json:\n\s+- not valid JSON/);
  });
});
