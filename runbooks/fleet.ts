/**
 * fleet — one runbook over many targets (issue 15 §5): runs `runbook` on each target as a child run,
 * the canary first, then waves of `maxConcurrency`, with a gate `wave` between waves when asked
 * (`approveWaves`). It halts when `maxErrors` children fail, end stopped or wait at a failure (the
 * canary: at its first such child): it starts no further child, lets the running ones finish (answer
 * them, or stop the fleet) and says which failed and which never started. A stop of the fleet stops
 * every child, each running its own compensations. Its status (fact `fleet`) and its result are a
 * table per target: state, outcome, duration and the child's page in the Temporal UI.
 *
 * A fleet has no single target: its status, and the RunbookTarget search attribute, name what it
 * runs over — `fleet:<label>=<value>,…` for a selector (`fleet:*` for every target), `fleet:a,b,c`
 * for a list (`fleet:a,b,+3` when longer). Each child carries its own target, a workflow id
 * `<fleet's workflow id>-<target>` and the fleet as its parent (`ParentWorkflowId`).
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { INVALID_INPUT } from '../common/errors';
import type { RunbookMeta } from '../common/runbook';
import { TARGET_FIELD, validateInput } from '../common/schema';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';
import { isError, runWave, type FleetRow } from '../workflows/engine/fleet';
import { meta as adoptRepository } from './adoptRepository';
import { meta as applyRetention } from './applyRetention';
import { meta as auditChainRecovery } from './auditChainRecovery';
import { meta as corruptedConfigRecovery } from './corruptedConfigRecovery';
import { meta as corruptedDriverStore } from './corruptedDriverStore';
import { meta as corruptedStoreRecovery } from './corruptedStoreRecovery';
import { meta as drDrill } from './drDrill';
import { meta as driverBackup } from './driverBackup';
import { meta as driverSetRestore } from './driverSetRestore';
import { meta as driverUpdate } from './driverUpdate';
import { meta as exportScope } from './exportScope';
import { meta as failedDriverUpdate } from './failedDriverUpdate';
import { meta as fullBackup } from './fullBackup';
import { meta as fullSystemRestore } from './fullSystemRestore';
import { meta as healthCheck } from './healthCheck';
import { meta as importScope } from './importScope';
import { meta as incrementalBackup } from './incrementalBackup';
import { meta as lostAuthTokens } from './lostAuthTokens';
import { meta as mergeRestore } from './mergeRestore';
import { meta as migration } from './migration';
import { meta as offsiteReplicate } from './offsiteReplicate';
import { meta as panicRecovery } from './panicRecovery';
import { meta as proofRestore } from './proofRestore';
import { meta as restore } from './restore';
import { meta as verifyBackup } from './verifyBackup';

/**
 * The runbooks a fleet runs, by name: every registered runbook but fleet itself. Listed here, not
 * read from the registry, which lists fleet (a module cycle); test/fleet.test.ts checks the two agree.
 */
export const FLEET_RUNBOOKS: Record<string, RunbookMeta> = Object.fromEntries(
  [
    adoptRepository,
    applyRetention,
    auditChainRecovery,
    corruptedConfigRecovery,
    corruptedDriverStore,
    corruptedStoreRecovery,
    drDrill,
    driverBackup,
    driverSetRestore,
    driverUpdate,
    exportScope,
    failedDriverUpdate,
    fullBackup,
    fullSystemRestore,
    healthCheck,
    importScope,
    incrementalBackup,
    lostAuthTokens,
    mergeRestore,
    migration,
    offsiteReplicate,
    panicRecovery,
    proofRestore,
    restore,
    verifyBackup,
  ].map((m) => [m.name, m]),
);

export const meta: RunbookMeta = {
  name: 'fleet',
  title: 'Fleet run',
  summary:
    'Runs one runbook on many targets, each as a child run: the targets named, or those whose labels match a selector; the canary first, then waves of maxConcurrency, with an approval between waves when asked. Halts when maxErrors children fail (or wait at a failure), starting no further child; a stop stops every child, each compensating. Its status and result are a table per target: state, outcome, duration, link.',
  source:
    '000_be3e8dfd50981456.txt — §6.4 (test on a non-production system before a fleet deployment); 003_8b72c7da6d2bed8c.txt — §8 (quarterly disaster simulation, across every target)',
  input: {
    runbook: { type: 'string', required: true, description: 'the runbook to run on each target (not fleet)' },
    targets: {
      type: 'string[]',
      description: 'the targets by name, in the order they run (the first are the canary); or selector',
    },
    selector: {
      type: 'object',
      description:
        'every target whose config labels include all of these ({"role": "db"}; {} is every target), by name; or targets',
    },
    input: { type: 'object', description: "the child runs' further input (target is the fleet's)" },
    maxConcurrency: { type: 'integer', required: true, description: 'children per wave (at least 1)' },
    maxErrors: {
      type: 'integer',
      required: true,
      description: 'halt once this many children failed, stopped or wait at a failure (at least 1)',
    },
    canary: {
      type: 'integer',
      description:
        'run this many targets first, as a wave of their own; any error among them halts the fleet',
    },
    approveWaves: {
      type: 'boolean',
      description: 'true: wait at gate wave before every wave after the first',
    },
  },
  gates: {
    wave: { description: 'before every wave after the first, when approveWaves is true', defaults: {} },
  },
  requires: [],
  checksInput: true,
  stops: [
    "none of its own: a child's STOP waits in the child run (answer it there: lifeboat retry|stop <fleet id>-<target>) and counts as an error while it waits",
    'maxErrors errors (or any error of the canary) is no STOP either: the fleet halts — no further child starts, the running ones finish — and ends halted, naming the failed children and those not started',
  ],
  targetless: fleetLabel,
  flow: [
    {
      id: 'resolveTarget',
      label: 'no single target: the fleet is named fleet:<selector> or fleet:<targets>',
      next: [
        { to: 'end:invalidInput', when: 'fleet of fleet, unknown runbook, bad child input or counts' },
        { to: 'selectTargets', when: 'the input is sound' },
      ],
    },
    {
      id: 'selectTargets',
      label: "find the targets in the control plane's config: by name, or by labels",
      next: [
        { to: 'end:invalidInput', when: 'an unknown target, no match, or a missing section' },
        { to: 'child', when: 'targets found' },
      ],
    },
    {
      id: 'child',
      label: 'run the runbook on each target of the wave as a child run (child:<target> in the steps)',
      next: [
        { to: 'gate:wave', when: 'another wave, approveWaves' },
        { to: 'child', when: 'another wave' },
        { to: 'end:completed', when: 'every child completed' },
        { to: 'end:errors', when: 'some children failed, fewer than maxErrors' },
        { to: 'end:halted', when: 'maxErrors reached, or the canary failed' },
      ],
    },
    { id: 'gate:wave', label: 'approve the next wave', next: ['child'] },
    { id: 'end:completed', label: 'every child completed' },
    { id: 'end:errors', label: 'every target ran; some children failed' },
    { id: 'end:halted', label: 'halted: the failed children and those not started are named' },
    { id: 'end:invalidInput', label: 'fails at once: bad input' },
  ],
};

export interface FleetInput {
  runbook: string;
  targets?: string[];
  selector?: Record<string, string>;
  input?: Record<string, unknown>;
  maxConcurrency: number;
  maxErrors: number;
  canary?: number;
  approveWaves?: boolean;
}

export interface FleetResult {
  outcome: 'completed' | 'errors' | 'halted';
  runbook: string;
  /** What the fleet ran over: its RunbookTarget. */
  fleet: string;
  /** The table: one row per target, in run order. */
  targets: FleetRow[];
  completed: string[];
  /** Children that failed, ended stopped, or completed with outcome `failed` (a failed drill). */
  failed: string[];
  notStarted: string[];
  halted?: { reason: string; failed: string[]; notStarted: string[] };
  warning?: string;
}

/** The fleet's name where a target's would be (status, RunbookTarget); never throws. */
export function fleetLabel(input: Record<string, unknown>): string {
  const { targets, selector } = input;
  let label = '?';
  if (Array.isArray(targets)) {
    const names = targets.map(String);
    label = (names.length > 3 ? [...names.slice(0, 2), `+${names.length - 2}`] : names).join(',');
  } else if (typeof selector === 'object' && selector !== null && !Array.isArray(selector)) {
    const pairs = Object.entries(selector).sort(([a], [b]) => a.localeCompare(b));
    label = pairs.length ? pairs.map(([k, v]) => `${k}=${String(v)}`).join(',') : '*';
  }
  return `fleet:${label.length > 200 ? `${label.slice(0, 199)}…` : label}`;
}

const refuse = (message: string) => ApplicationFailure.nonRetryable(message, INVALID_INPUT);

/** The input checks no activity is needed for; every problem at once. */
function problemsOf(input: FleetInput): string[] {
  const problems: string[] = [];
  const child = FLEET_RUNBOOKS[input.runbook];
  if (input.runbook === meta.name)
    problems.push(
      'a fleet cannot run fleet: name the runbook each target runs (a fleet of fleets is refused)',
    );
  else if (!child)
    problems.push(
      `unknown runbook '${input.runbook}'; a fleet runs one of: ${Object.keys(FLEET_RUNBOOKS).join(', ')}`,
    );
  if ((input.targets === undefined) === (input.selector === undefined))
    problems.push('give input.targets (names) or input.selector ({"label": "value"}), exactly one of them');
  if (input.input?.target !== undefined)
    problems.push('input.input.target: the fleet gives each child its target; leave it out');
  else if (child)
    problems.push(
      ...validateInput(
        child.name,
        { target: TARGET_FIELD, ...child.input },
        { ...input.input, target: '-' },
      ).map((p) => p.replace(/^input\./, 'input.input.')),
    );
  for (const field of ['maxConcurrency', 'maxErrors', 'canary'] as const) {
    const n = input[field];
    if (n !== undefined && n < 1) problems.push(`input.${field} must be at least 1 (got ${n})`);
  }
  return problems;
}

/** The waves, in run order: the canary as a wave of its own, then maxConcurrency targets at a time. */
function wavesOf(targets: string[], canary: number | undefined, size: number): string[][] {
  const waves = canary ? [targets.slice(0, canary)] : [];
  for (let i = canary ?? 0; i < targets.length; i += size) waves.push(targets.slice(i, i + size));
  return waves;
}

const names = (rows: FleetRow[]) => rows.map((r) => r.target);

export async function fleet(input: FleetInput): Promise<RunOutcome<FleetResult>> {
  return runRunbook(meta, input, async (run) => {
    const problems = problemsOf(input);
    if (problems.length) throw refuse(problems.join('; '));
    const child = FLEET_RUNBOOKS[input.runbook];
    const targets = await run.step('selectTargets', 'selectFleetTargets', [
      { runbook: child.name, requires: child.requires, targets: input.targets, selector: input.selector },
    ]);
    if (input.canary !== undefined && input.canary > targets.length)
      throw refuse(`input.canary is ${input.canary}, but the fleet has ${targets.length} target(s)`);
    run.acceptInput();

    const info = workflowInfo();
    const waves = wavesOf(targets, input.canary, input.maxConcurrency);
    const rows: FleetRow[] = waves.flatMap((wave, i) =>
      wave.map((target) => {
        const workflowId = `${info.workflowId}-${target}`;
        const link = `/namespaces/${encodeURIComponent(info.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
        return { target, wave: i + 1, workflowId, state: 'not started' as const, link };
      }),
    );
    run.fact('fleet', rows);
    let halted: FleetResult['halted'];
    let canaryWave = input.canary !== undefined;

    /** After any change: the table, and whether the fleet must halt now. */
    const changed = () => {
      run.fact('fleet', rows);
      const errors = rows.filter(isError);
      const limit = canaryWave ? 1 : input.maxErrors;
      if (halted || errors.length < limit) return;
      const which = errors.map((r) => `${r.target} (${r.state}: ${r.outcome ?? ''})`).join('; ');
      const reason = canaryWave
        ? `the canary failed: ${which}`
        : `${errors.length} child run(s) failed or wait at a failure (maxErrors ${input.maxErrors}): ${which}`;
      halted = {
        reason,
        failed: names(errors),
        notStarted: names(rows.filter((r) => r.state === 'not started')),
      };
      run.fact('halted', {
        ...halted,
        then: 'no further child starts; the running ones finish (answer them, or stop the fleet)',
      });
      run.record('fleet.halted', halted);
      run.notify('alert', `fleet halted: ${reason}`, { details: halted });
    };

    let watchProblem: string | undefined;
    for (const [i, wave] of waves.entries()) {
      if (halted) break;
      const waveRows = rows.filter((r) => r.wave === i + 1);
      if (i > 0 && input.approveWaves) {
        const done = rows.filter((r) => r.endedAt);
        await run.gate('wave', `start wave ${i + 1} of ${waves.length}: ${wave.join(', ')}`, {
          summary: `runs ${child.name} on ${wave.join(', ')}`,
          effects: [
            `so far: ${done.length - done.filter(isError).length} completed, ${done.filter(isError).length} failed`,
            `then ${rows.length - done.length - wave.length} more target(s) in ${waves.length - i - 1} wave(s)`,
          ],
        });
      }
      const ran = await runWave(
        run,
        waveRows,
        { runbook: child.name, input: input.input ?? {}, flowNode: 'child' },
        changed,
      );
      watchProblem ??= ran.watchProblem;
      canaryWave = false;
    }

    const failed = names(rows.filter(isError));
    const notStarted = names(rows.filter((r) => r.state === 'not started'));
    const result: FleetResult = {
      outcome: halted ? 'halted' : failed.length ? 'errors' : 'completed',
      runbook: child.name,
      fleet: run.status.target,
      targets: rows,
      completed: names(rows.filter((r) => r.state === 'completed' && !isError(r))),
      failed,
      notStarted,
      ...(halted ? { halted: { ...halted, failed, notStarted } } : {}),
    };
    const warnings = [
      halted ? `halted: ${halted.reason}; not started: ${notStarted.join(', ') || 'none'}` : undefined,
      !halted && failed.length ? `${failed.length} child run(s) failed: ${failed.join(', ')}` : undefined,
      watchProblem ? `children waiting at a failure could not be watched: ${watchProblem}` : undefined,
    ].filter((w): w is string => w !== undefined);
    return warnings.length ? { ...result, warning: warnings.join('; ') } : result;
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
fleet.meta = meta;
