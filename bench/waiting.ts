/**
 * `npm run bench:waiting` (issue 17): N corruptedStoreRecovery runs (default 1,000) started at once
 * against a target whose primary and newest backup are corrupt, until every one waits at its gate
 * `restore`. A Temporal dev server and a Lifeboat worker of its own, launched as production launches
 * it (bench/waiting-procs.ts); the runs start as the CLI starts them (client/runs.ts startRunbook). Measured: the start rate, the time
 * from the first start until the visibility store counts every run waiting (then each run's own
 * `waiting.since` from the status Query, which needs no visibility), the worker's resident set
 * (sampled, and the kernel's high-water mark) and the CPU seconds of worker, server and this client,
 * then a stop decision's round trip on a sample of runs (the bare Update, and the CLI's `decide`).
 * Targets (reported, never asserted): all waiting within 120 s, worker RSS at most 400 MB.
 * `npm run bench:waiting -- --help` lists the options; results in bench/results/waiting.json.
 */
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stopUpdate } from '../common/messages';
import { parseConfig } from '../config';
import { decide, queryStatus, startRunbook } from '../client/runs';
import { writeStoreFixture } from '../scripts/demo-data';
import {
  sampleProc,
  startDevServer,
  memoryReport,
  running,
  startWorker,
  summarizeProfile,
  threadCpu,
  threadSnapshot,
  type Proc,
  type ProcSample,
  type ProfileSummary,
} from './waiting-procs';
import { parseOptions, report, type Options } from './waiting-report';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const builder = require('../scripts/build.js') as { isStale: () => boolean; build: () => void };

const RUNBOOK = 'corruptedStoreRecovery';
const QUEUE = 'lifeboat-bench-waiting';
/** No run reaching its gate for this long ends the wait (the worker's output is shown). */
const STALL_SECONDS = 120;

const quantile = (xs: number[], q: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};

/** Runs `fn` over `items`, at most `concurrency` at a time. */
async function pool<T, R>(items: T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return out;
}

interface TimelinePoint {
  t: number;
  waiting: number;
  closed: number;
  workerRssMB?: number;
  workerCpuSeconds?: number;
  serverCpuSeconds?: number;
  serverRssMB?: number;
}

const delta = (a?: ProcSample, b?: ProcSample) => (a && b ? b.cpuSeconds - a.cpuSeconds : NaN);

async function measure(o: Options, dir: string) {
  const server = await startDevServer({
    dir,
    memoryDb: o.memoryDb,
    pragmas: o.pragmas,
    dynamicConfig: o.dynamicConfig,
  });
  let worker: Proc | undefined;
  let connection: Connection | undefined;
  const profileDir = path.join(dir, 'cpu-profiles');
  try {
    // The README's demo-store: a corrupt primary, a corrupt newest backup and a good older one.
    writeStoreFixture(path.join(dir, 'store'), 'corrupt', ['intact', 'corrupt']);
    const raw = {
      auditLedger: path.join(dir, 'audit.sqlite'),
      targets: {
        store: {
          store: {
            primary: path.join(dir, 'store', 'graph.json'),
            backups: path.join(dir, 'store', 'backups'),
            quarantine: path.join(dir, 'store', 'quarantine'),
          },
        },
      },
    };
    const configFile = path.join(dir, 'lifeboat.config.json');
    parseConfig(raw, configFile);
    fs.writeFileSync(configFile, JSON.stringify(raw, null, 2));
    const nodeFlags = [...o.nodeFlags, ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
    const launched = await startWorker({
      address: server.address,
      configFile,
      taskQueue: QUEUE,
      dir,
      nodeFlags,
      env: o.workerEnv,
      sources: o.sources,
      workerOptions: o.workerOptions,
      memoryReport: o.memoryReport,
    });
    worker = launched.proc;
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection, namespace: 'default' });
    const w = worker;
    const sample = () => ({ worker: sampleProc(w.pid), server: sampleProc(server.proc.pid) });
    const idle = sample();
    const idleThreads = threadSnapshot(w.pid);
    const clientCpu0 = process.cpuUsage();

    // Start every run, as `lifeboat start` does, as fast as the client and server take them.
    const ids = Array.from({ length: o.runs }, (_, i) => `bench-waiting-${String(i).padStart(5, '0')}`);
    const t0 = performance.now();
    const epoch0 = Date.now();
    const startLatencies: number[] = [];
    const startErrors: string[] = [];
    await pool(ids, o.startConcurrency, async (workflowId) => {
      const s = performance.now();
      try {
        await startRunbook(client, {
          runbook: RUNBOOK,
          input: { target: 'store' },
          workflowId,
          taskQueue: QUEUE,
        });
        startLatencies.push(performance.now() - s);
      } catch (err) {
        startErrors.push(`${workflowId}: ${(err as Error).message}`);
      }
    });
    const startSeconds = (performance.now() - t0) / 1000;
    const started = startLatencies.length;
    console.log(
      `started ${started} runs in ${startSeconds.toFixed(1)} s (${(started / startSeconds).toFixed(0)}/s)`,
    );

    // Until the visibility store counts every run waiting (or ended: it never will).
    const timeline: TimelinePoint[] = [];
    const reached: Record<string, number> = {};
    let waiting = 0;
    let closed = 0;
    let progress = { count: 0, t: startSeconds };
    const countOf = async (query: string) => (await client.workflow.count(query)).count;
    for (;;) {
      const t = (performance.now() - t0) / 1000;
      [waiting, closed] = await Promise.all([
        countOf(`RunbookName = '${RUNBOOK}' AND RunbookState = 'waiting' AND ExecutionStatus = 'Running'`),
        countOf(`RunbookName = '${RUNBOOK}' AND ExecutionStatus != 'Running'`),
      ]);
      const s = sample();
      timeline.push({
        t,
        waiting,
        closed,
        workerRssMB: s.worker?.rssMB,
        workerCpuSeconds: s.worker?.cpuSeconds,
        serverCpuSeconds: s.server?.cpuSeconds,
        serverRssMB: s.server?.rssMB,
      });
      for (const [name, share] of [
        ['half', 0.5],
        ['ninetyPercent', 0.9],
        ['all', 1],
      ] as const)
        if (reached[name] === undefined && waiting >= Math.ceil(share * started)) reached[name] = t;
      if (timeline.length % 20 === 1)
        console.log(
          `  ${t.toFixed(0).padStart(4)} s: ${waiting} waiting, ${closed} ended, worker ${s.worker?.rssMB.toFixed(0)} MB`,
        );
      if (waiting + closed > progress.count) progress = { count: waiting + closed, t };
      if (waiting >= started || waiting + closed >= started || t > o.timeoutSeconds) break;
      if (t - progress.t > STALL_SECONDS) {
        console.log(
          `no run reached its gate for ${STALL_SECONDS} s; the worker said:\n${w.output().slice(-4000)}`,
        );
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const allWaitingSeconds = (performance.now() - t0) / 1000;
    const atWaiting = sample();
    const clientCpu = process.cpuUsage(clientCpu0);
    const workerThreads = threadCpu(idleThreads, threadSnapshot(w.pid));
    const workerMemory = o.memoryReport ? await memoryReport(w) : undefined;
    if (w.child.exitCode !== null || w.child.signalCode !== null)
      throw new Error(`the worker exited (${w.child.exitCode ?? w.child.signalCode}):\n${w.output()}`);
    console.log(`${waiting} waiting after ${allWaitingSeconds.toFixed(1)} s; checking each run's status…`);

    // Each run's own word: waiting at gate 'restore', and since when (its workflow clock).
    const sinces: number[] = [];
    const notAtGate: string[] = [];
    const q0 = performance.now();
    await pool(ids, 10, async (id) => {
      const status = await queryStatus(client, client.workflow.getHandle(id), 30_000).catch(() => undefined);
      if (status?.state === 'waiting' && status.waiting?.kind === 'gate' && status.waiting.gate === 'restore')
        sinces.push((Date.parse(status.waiting.since) - epoch0) / 1000);
      else notAtGate.push(`${id}: ${status ? `${status.state} ${status.waiting?.kind ?? ''}` : 'no answer'}`);
    });
    const querySeconds = (performance.now() - q0) / 1000;
    // The work behind one run up to its gate: its history's events by type.
    const history = await client.workflow.getHandle(ids[0]).fetchHistory();
    const eventsToGate: Record<string, number> = {};
    const activitiesToGate: Record<string, number> = {};
    for (const e of history.events ?? []) {
      const type = (temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType)).replace(
        'EVENT_TYPE_',
        '',
      );
      eventsToGate[type] = (eventsToGate[type] ?? 0) + 1;
      const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
      if (activity) activitiesToGate[activity] = (activitiesToGate[activity] ?? 0) + 1;
    }

    // A stop decision on two samples, one at a time: the bare Update, and the CLI's decide().
    const decisionIds = ids
      .filter((_, i) => i % Math.floor(o.runs / (2 * o.sample)) === 0)
      .slice(0, 2 * o.sample);
    const updateMs: number[] = [];
    const decideMs: number[] = [];
    const decisionErrors: string[] = [];
    for (const [i, id] of decisionIds.entries()) {
      const args = { actor: 'bench', reason: 'bench: decision round trip' };
      const s = performance.now();
      try {
        if (i % 2 === 0)
          await client.connection.withDeadline(Date.now() + 60_000, () =>
            client.workflow.getHandle(id).executeUpdate(stopUpdate, { args: [args] }),
          );
        else await decide(client, id, { action: 'stop', args });
        (i % 2 === 0 ? updateMs : decideMs).push(performance.now() - s);
      } catch (err) {
        decisionErrors.push(`${id}: ${(err as Error).message}`);
      }
    }
    const atEnd = sample();

    // Clean up: terminate what still runs, then the worker (which writes its CPU profile on exit).
    const stopped = new Set(decisionIds);
    const remaining = ids.filter((id) => !stopped.has(id));
    await pool(remaining, 50, (id) =>
      client.workflow
        .getHandle(id)
        .terminate('bench done')
        .catch(() => undefined),
    );
    await worker.stop();
    const profiles: ProfileSummary[] = fs.existsSync(profileDir)
      ? fs
          .readdirSync(profileDir)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => summarizeProfile(path.join(profileDir, f)))
          .sort((a, b) => b.seconds - a.seconds)
      : [];
    const peak = (k: 'worker' | 'server') =>
      Math.max(
        ...timeline.map((p) => (k === 'worker' ? p.workerRssMB : p.serverRssMB) ?? 0),
        atWaiting[k]?.peakRssMB ?? 0,
        atEnd[k]?.peakRssMB ?? 0,
      );
    return {
      runs: o.runs,
      started,
      startErrors: startErrors.slice(0, 10),
      startSeconds,
      startRatePerSecond: started / startSeconds,
      startLatencyMs: { p50: quantile(startLatencies, 0.5), p99: quantile(startLatencies, 0.99) },
      waitingCounted: waiting,
      endedBeforeWaiting: closed,
      secondsToWaiting: {
        half: reached.half,
        ninetyPercent: reached.ninetyPercent,
        all: reached.all,
        byVisibility: allWaitingSeconds,
        lastGateSince: sinces.length ? Math.max(...sinces) : NaN,
        medianGateSince: quantile(sinces, 0.5),
      },
      atGate: sinces.length,
      notAtGate: notAtGate.slice(0, 10),
      statusQueriesSeconds: querySeconds,
      eventsToGate: {
        total: history.events?.length ?? 0,
        byType: eventsToGate,
        activities: activitiesToGate,
      },
      decisions: {
        updateMs: { n: updateMs.length, p50: quantile(updateMs, 0.5), p99: quantile(updateMs, 0.99) },
        cliDecideMs: { n: decideMs.length, p50: quantile(decideMs, 0.5), p99: quantile(decideMs, 0.99) },
        errors: decisionErrors.slice(0, 10),
      },
      worker: {
        runs: launched.runs,
        idleRssMB: idle.worker?.rssMB,
        rssAtAllWaitingMB: atWaiting.worker?.rssMB,
        rssAtEndMB: atEnd.worker?.rssMB,
        peakRssMB: peak('worker'),
        /** Until every run waited: what the runs themselves cost, before the queries and decisions replay evicted ones. */
        peakRssToAllWaitingMB: Math.max(
          ...timeline.map((p) => p.workerRssMB ?? 0),
          atWaiting.worker?.peakRssMB ?? 0,
        ),
        cpuSecondsToAllWaiting: delta(idle.worker, atWaiting.worker),
        cpuSecondsDecisions: delta(atWaiting.worker, atEnd.worker),
        threads: atWaiting.worker?.threads,
        memoryAtAllWaiting: workerMemory,
        cpuByThreadAtAllWaiting: workerThreads,
      },
      server: {
        memoryDb: o.memoryDb,
        rssAtAllWaitingMB: atWaiting.server?.rssMB,
        peakRssMB: peak('server'),
        cpuSecondsToAllWaiting: delta(idle.server, atWaiting.server),
      },
      clientCpuSecondsToAllWaiting: (clientCpu.user + clientCpu.system) / 1e6,
      profiles,
      timeline,
    };
  } finally {
    await connection?.close().catch(() => undefined);
    await worker?.stop();
    await server.proc.stop();
  }
}

export type Result = Awaited<ReturnType<typeof measure>>;

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  // The worker runs dist/ as production does: compile it first when the sources are newer.
  if (!o.sources && builder.isStale()) builder.build();
  const loadBefore = os.loadavg()[0];
  console.log(
    `bench:waiting: ${o.runs} ${RUNBOOK} runs on ${os.cpus().length} cores, load ${loadBefore.toFixed(2)}` +
      (loadBefore >= 0.5 ? ' (not idle: the figures will be skewed)' : ''),
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-bench-waiting-'));
  // Ctrl-C (or a timeout's SIGTERM): end the server and the worker, and remove the work folder.
  const abort = () => {
    for (const p of running) p.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    await report(o, await measure(o, dir), loadBefore);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`waiting bench failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
