/**
 * Test helpers: a Lifeboat worker in this process against the suite's dev server, real CLI and
 * worker processes, temp directories and config files.
 */
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AuditLedger, type AuditRow } from '../activities/lib/ledger';
import { SqliteLedgerStore } from '../activities/lib/stores/sqlite';
import { statusQuery } from '../common/messages';
import type { AuditEventInput, RunStatus } from '../common/types';
import { parseConfig, type LifeboatConfig } from '../config';
import { createLifeboatWorker } from '../worker/worker';
import { recordQueue, recordWaiting } from './history-recorder';

export const ROOT = path.resolve(__dirname, '..');

let runtimeInstalled = false;
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
}

/**
 * The environment of a process a test starts: this one's, without the developer's own Temporal
 * settings (TEMPORAL_* and their temporal.toml), so that a TLS default profile on a laptop cannot
 * send a test's CLI elsewhere. A test that wants a profile sets TEMPORAL_CONFIG_FILE itself.
 */
export function hermetic(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TEMPORAL_')) env[k] = v;
  return { ...env, TEMPORAL_CONFIG_FILE: os.devNull };
}

export function serverAddress(): string {
  const address = process.env.LIFEBOAT_TEST_ADDRESS;
  if (!address)
    throw new Error('LIFEBOAT_TEST_ADDRESS is not set: run the tests through jest (test/global-setup.ts)');
  return address;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lifeboat-${prefix}-`));
}

/** Writes a config file into `dir` and returns its path and the parsed config. */
export function writeConfig(
  dir: string,
  raw: Record<string, unknown>,
): { file: string; config: LifeboatConfig } {
  const file = path.join(dir, 'lifeboat.config.json');
  fs.writeFileSync(file, JSON.stringify(raw, null, 2));
  return { file, config: parseConfig(raw, file) };
}

export function uniqueQueue(name: string): string {
  return `lifeboat-test-${name}-${Math.random().toString(36).slice(2, 8)}`;
}

export interface TestWorker {
  worker: Worker;
  client: Client;
  taskQueue: string;
  stop: () => Promise<void>;
}

/** Runs a Lifeboat worker (in this process) on its own task queue until `stop()`. */
export async function startWorker(
  config: LifeboatConfig,
  taskQueue: string,
  /** Another version of the workflow code (test/variants.ts); default: this one. */
  bundle = process.env.LIFEBOAT_TEST_BUNDLE!,
): Promise<TestWorker> {
  quietRuntime();
  const nativeConnection = await NativeConnection.connect({ address: serverAddress() });
  const connection = await Connection.connect({ address: serverAddress() });
  const client = new Client({ connection, namespace: 'default' });
  const { worker, close } = await createLifeboatWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue,
    config,
    workflowBundle: { codePath: bundle },
    client: () => client,
  });
  const running = worker.run();
  return {
    worker,
    client,
    taskQueue,
    stop: async () => {
      await recordQueue(client, taskQueue);
      worker.shutdown();
      await running;
      await close();
      await nativeConnection.close();
      await connection.close();
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `lifeboat` CLI in a child process (asynchronously: the worker shares this loop); the
 * repository's bin/lifeboat.js unless `where` names another (an unpacked package's).
 */
export function lifeboat(
  args: string[],
  env: Record<string, string> = {},
  where: { bin?: string; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [where.bin ?? path.join(ROOT, 'bin', 'lifeboat.js'), ...args], {
      cwd: where.cwd ?? ROOT,
      env: { ...hermetic(), TEMPORAL_ADDRESS: serverAddress(), ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Audit event `n` of run `workflowId`/run-1: by default a step that succeeded, at second `n`. */
export function auditEvent(
  n: number,
  extra: Partial<AuditEventInput> = {},
  workflowId = 'wf-1',
): AuditEventInput {
  return {
    eventKey: `${workflowId}/run-1/${n}`,
    at: new Date(Date.UTC(2026, 10, 21, 10, 0, n)).toISOString(),
    workflowId,
    runId: 'run-1',
    runbook: 'corruptedStoreRecovery',
    target: 'demo',
    step: 'verifyPrimary',
    event: 'step.succeeded',
    actor: 'lifeboat',
    details: { n },
    ...extra,
  };
}

/** A SQLite audit ledger at `file` holding one event of run `workflowId`/run-1: a step that succeeded. */
export async function oneEventLedger(file: string, workflowId: string): Promise<void> {
  const store = new SqliteLedgerStore(file);
  await store.append([auditEvent(1, {}, workflowId)]);
  await store.close();
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until the run's status satisfies `predicate` and returns that status. */
export function statusWhen(
  client: Client,
  workflowId: string,
  predicate: (s: RunStatus) => boolean,
  what: string,
  /** How long it may take: longer where the run first works through gigabytes. */
  timeoutMs = 30000,
): Promise<RunStatus> {
  return eventually(
    async () => {
      const status = await client.workflow.getHandle(workflowId).query(statusQuery);
      if (!predicate(status)) return undefined;
      await recordWaiting(client, workflowId, status);
      return status;
    },
    what,
    timeoutMs,
  );
}

/** A child process with its output collected, for worker and `up` processes. */
export interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** The environment every supported way of starting the worker gives it (npm run worker, up, Docker). */
export const WORKER_ENV = { MALLOC_ARENA_MAX: '2' };

export function spawnTsx(script: string, env: Record<string, string>): Proc {
  // `node --require tsx/cjs` runs the script in this one process (a signal reaches the script itself),
  // and without the ESM loader thread that `--import tsx` adds (about 20 MB).
  return spawnNode(['--require', 'tsx/cjs', path.join(ROOT, script)], env);
}

/** `node` with these arguments, in the repository, its output collected. */
export function spawnNode(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...hermetic(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

export function storeTargetConfig(storeDir: string, gates: Record<string, unknown> = {}) {
  return {
    store: {
      primary: path.join(storeDir, 'graph.json'),
      backups: path.join(storeDir, 'backups'),
      quarantine: path.join(storeDir, 'quarantine'),
    },
    gates,
  };
}

/** Every file under `dir` with its bytes, for "nothing changed" assertions. */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}

/** The reason a decision Update was refused with (fails the test if it was accepted). */
export async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    return ((err as WorkflowUpdateFailedError).cause as Error).message;
  }
  throw new Error('the update was accepted');
}

/**
 * Starts the worker as a real process, as `npm run worker` does (bin/lifeboat-worker.js: the compiled
 * worker when dist/ is fresh, as `npm test`'s setup leaves it), and waits until it polls.
 */
export async function startWorkerProcess(env: Record<string, string>): Promise<Proc> {
  const proc = spawnNode(['--max-semi-space-size=2', path.join(ROOT, 'bin', 'lifeboat-worker.js')], {
    ...WORKER_ENV,
    TEMPORAL_ADDRESS: serverAddress(),
    ...env,
  });
  await eventually(
    async () => (proc.output().includes('polling task queue') ? true : undefined),
    'the worker to poll',
    60000,
  );
  return proc;
}

/** Whether a process is running (a zombie waiting to be reaped does not count). */
export function processRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A run's rows in the audit ledger at `ledgerFile`, in order (the file opened read-only). */
export function auditRowsOf(ledgerFile: string, workflowId: string): AuditRow[] {
  const ledger = new AuditLedger(ledgerFile, { readonly: true });
  try {
    return ledger.forWorkflow(workflowId);
  } finally {
    ledger.close();
  }
}
