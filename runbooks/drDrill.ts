/**
 * drDrill — procedure 004 "Disaster Recovery Drill" (003 §8 quarterly disaster simulation and §14
 * monthly restore test, 001 §6): copy the target into a sandbox under its drill directory, simulate
 * the scenario's disaster there, run the matching recovery runbook as a child workflow against the
 * sandbox (`<target>@drill-<drillId>`), verify the procedure's outcome checklist, measure the
 * achieved RTO and RPO against the target's objectives, and emit a signed drill proof recorded in
 * the catalog. Production is never touched: only read, to make the sandbox.
 *
 * Approvals: `automatic` opens every gate of the recovery at once; `people` leaves the target's
 * gate policies in force, so the child run waits for `lifeboat approve <child workflow id>` (the
 * drill's status names the child). A recovery that ends stopped or failed fails the drill's
 * checklist; the drill still completes, with `passed: false` and a proof.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { DisasterReport } from '../activities/drill';
import { DRILL_SCENARIOS, type DrillCheck, type DrillProof, type DrillScenario } from '../common/drill';
import type { RunbookMeta } from '../common/runbook';
import { runTagOf } from '../common/tags';
import type { RunOutcome } from '../common/types';
import { nowIso, runRunbook } from '../workflows/engine';
import { meta as auditChainRecovery } from './auditChainRecovery';
import { meta as corruptedConfigRecovery } from './corruptedConfigRecovery';
import { meta as corruptedDriverStore } from './corruptedDriverStore';
import { meta as corruptedStoreRecovery } from './corruptedStoreRecovery';
import { meta as fullSystemRestore } from './fullSystemRestore';
import { meta as importScope } from './importScope';
import { meta as panicRecovery } from './panicRecovery';
import { meta as restore } from './restore';

const SCENARIOS = Object.keys(DRILL_SCENARIOS) as DrillScenario[];
const APPROVALS = ['automatic', 'people'] as const;

/** The recovery runbooks a drill may run, by name (their metadata: sections needed, gates). */
const RECOVERY: Record<string, RunbookMeta> = Object.fromEntries(
  [
    panicRecovery,
    restore,
    corruptedStoreRecovery,
    corruptedConfigRecovery,
    auditChainRecovery,
    importScope,
    corruptedDriverStore,
    fullSystemRestore,
  ].map((m) => [m.name, m]),
);

export const meta: RunbookMeta = {
  name: 'drDrill',
  title: 'Disaster recovery drill',
  summary:
    "Copies the target into a sandbox under its drill directory (production is only read), simulates a disaster there, runs the matching recovery runbook as a child workflow against the sandbox (gates opened automatically, or by people), verifies the procedure's outcome checklist, measures the achieved RTO and RPO against the target's objectives, and writes a drill proof signed with the drill key, recorded in the catalog.",
  source:
    '004_eb854aaac24b530d.txt — Disaster Recovery Drill; 003_8b72c7da6d2bed8c.txt — §8 (quarterly disaster simulation), §14 (monthly restore test); 001_3fc6a84b3909d4a8.txt — §6',
  input: {
    scenario: {
      type: 'string',
      required: true,
      enum: SCENARIOS,
      description: `the disaster to simulate and the runbook that recovers from it: ${SCENARIOS.map((s) => `${s} (${DRILL_SCENARIOS[s]})`).join(', ')}`,
    },
    approvals: {
      type: 'string',
      enum: APPROVALS,
      description:
        "who opens the recovery's gates: 'automatic' (default: every gate at once) or 'people' (the target's gate policies; approve the child run, named in the drill's status)",
    },
    sandboxAgent: {
      type: 'string',
      description:
        "hostLoss only: run the sandbox and the recovery on this agent, one that stands by for the target (its config's 'standby' section): the new host restores from the offsite copy alone, as after a real host loss; production files never move between hosts",
    },
    onBusy: {
      type: 'string',
      enum: ['stop', 'skip'],
      description:
        "when another drill of the target runs: 'stop' (default: wait for a responder) or 'skip' (end as skipped; what schedules use)",
    },
  },
  // The drill itself changes nothing in production, so it has no gate; the recovery's gates follow `approvals`.
  gates: {},
  requires: ['drill'],
  checksInput: true,
  stops: [
    'another drill of the target is running (LockHeld, naming it; with onBusy "skip" the drill ends as skipped instead)',
    "the sandbox cannot be made (the drill directory is not writable, or holds another drill's sandbox under this id)",
    'a corruptFiles drill finds no file in the root to damage',
    'a projectImport drill finds no project in the root to export',
    "a corruptedDriverStore drill finds fewer devices bound to a package of the sandbox's driver store than driverStore.corruptDeviceThreshold",
    "a fullSystemRestore drill's 'stop' command (the drill's own) fails when the disaster stops the sandbox's services",
    'the drill signing key is missing, locked with a passphrase that is not set, or not the key of the configured public key',
    'the recovery runbook (the child run) STOPs: it waits for a responder like any run; stopping it makes the drill fail',
  ],
  flow: [
    {
      id: 'resolveTarget',
      label: 'find the target in the worker config',
      next: [
        { to: 'chooseSandboxHost', when: 'input.sandboxAgent is set' },
        { to: 'checkScenario', when: 'the sandbox is on the host that holds the target' },
      ],
    },
    {
      id: 'chooseSandboxHost',
      label:
        'check that the agent stands by for the target; pick the newest backup copied offsite from the catalog of record',
      next: ['checkScenario'],
    },
    {
      id: 'checkScenario',
      label: "check that the scenario's recovery runbook fits the target and its drill commands",
      next: ['takeDrillLock'],
    },
    {
      id: 'takeDrillLock',
      label: "take the target's drill lock: one drill of a target at a time",
      next: [
        { to: 'prepareSandbox', when: 'taken' },
        { to: 'end:skipped', when: 'another drill runs and onBusy is skip' },
      ],
    },
    {
      id: 'prepareSandbox',
      label: 'copy every production path into <drill directory>/<drill id>/fs (production is only read)',
      next: [
        { to: 'registerSandbox', when: 'an agent holds the target' },
        { to: 'simulateDisaster', when: "the target is the control plane's own" },
      ],
    },
    {
      id: 'registerSandbox',
      label:
        "tell the control plane where the sandbox is: the derived target's steps go to the target's agent",
      next: ['simulateDisaster'],
    },
    { id: 'simulateDisaster', label: "simulate the scenario's disaster in the sandbox", next: ['recovery'] },
    {
      id: 'recovery',
      label: 'run the recovery runbook as a child workflow against <target>@drill-<drill id>',
      next: ['verifyOutcome'],
    },
    {
      id: 'verifyOutcome',
      label: "verify the procedure's outcome checklist on the sandbox; measure RTO and RPO",
      next: ['signProof'],
    },
    { id: 'signProof', label: 'write the drill proof, signed with the drill key', next: ['recordDrill'] },
    {
      id: 'recordDrill',
      label: 'record the drill in the catalog',
      next: ['releaseDrillLock'],
    },
    {
      id: 'releaseDrillLock',
      label: "release the target's drill lock",
      next: [
        { to: 'end:passed', when: 'every check passed' },
        { to: 'end:failed', when: 'a check failed, or the recovery stopped or failed' },
      ],
    },
    { id: 'end:passed', label: 'drill passed; the sandbox is kept as evidence' },
    { id: 'end:failed', label: 'drill failed; the sandbox is kept as evidence' },
    { id: 'end:skipped', label: 'skipped: another drill of the target was running' },
  ],
};

export interface DrDrillInput {
  target: string;
  scenario: DrillScenario;
  approvals?: 'automatic' | 'people';
  onBusy?: 'stop' | 'skip';
  sandboxAgent?: string;
}

/** What a drill that found another drill of its target running returns (onBusy 'skip'). */
export interface DrDrillSkipped {
  outcome: 'skipped';
  scenario: DrillScenario;
  reason: string;
}

export interface DrDrillResult {
  outcome: 'passed' | 'failed';
  drillId: string;
  scenario: DrillScenario;
  passed: boolean;
  checks: DrillCheck[];
  recovery: DrillProof['recovery'];
  rto: DrillProof['rto'];
  rpo: DrillProof['rpo'];
  backup?: DrillProof['backup'];
  proof: { path: string; signaturePath: string; contentSha256: string };
  sandbox: string;
  /** The sandbox is evidence: nothing of it is removed. */
  sandboxKept: string;
  /** Set when the drill failed: what failed, in one line. */
  warning?: string;
}

// Copying a target may take long; progress heartbeats every few seconds.
const LONG = { startToCloseTimeout: '12 hours', heartbeatTimeout: '1 minute' } as const;

function seconds(from: string, to: string): number {
  return Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
}

export async function drDrill(input: DrDrillInput): Promise<RunOutcome<DrDrillResult | DrDrillSkipped>> {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const scenario = input.scenario;
    const approvals = input.approvals ?? 'automatic';
    const info = workflowInfo();
    const drillId = runTagOf(info.startTime, info.runId);
    const runbook = DRILL_SCENARIOS[scenario];
    const recoveryMeta = RECOVERY[runbook];
    run.fact('drillId', drillId);
    run.fact('scenario', scenario);

    // A host-loss drill on a standby host: every step that touches files runs there (`on`).
    const standby = input.sandboxAgent
      ? await run.step('chooseSandboxHost', 'standbyForDrill', [target, input.sandboxAgent, scenario])
      : undefined;
    const on = standby?.route;
    const requires = Object.fromEntries(Object.values(RECOVERY).map((m) => [m.name, m.requires]));
    const plan = await run.step(
      'checkScenario',
      'checkDrillScenario',
      standby ? [target, scenario, requires, standby.backup] : [target, scenario, requires],
      { on },
    );
    run.acceptInput();

    const lock = await run.step('takeDrillLock', 'acquireDrillLock', [target, input.onBusy ?? 'stop'], {
      compensation: { name: 'releaseDrillLock', activity: 'releaseDrillLock', args: [target], on },
      on,
    });
    if (!lock.acquired) {
      run.dropCompensation('releaseDrillLock');
      return { outcome: 'skipped' as const, scenario, reason: `target busy: ${lock.problem}` };
    }

    const sandbox = await run.step(
      'prepareSandbox',
      'prepareSandbox',
      [
        target,
        {
          drillId,
          scenario,
          approvals,
          runbook,
          gates: Object.keys(recoveryMeta.gates),
          createdBy: info.workflowId,
          ...(standby ? { backup: standby.backup } : {}),
        },
      ],
      { ...LONG, on },
    );
    // Only for an agent's target (the control plane's own resolves the derived target from its config).
    if (run.target.agent || on)
      await run.step('registerSandbox', 'registerDrillTarget', [
        {
          name: sandbox.derivedTarget,
          base: target,
          approvals,
          gates: Object.keys(recoveryMeta.gates),
          sections: sandbox.sections ?? [],
          ...(on ? { agent: on.name } : {}),
        },
      ]);
    run.fact('sandbox', {
      folder: sandbox.sandbox,
      target: sandbox.derivedTarget,
      files: sandbox.files,
      bytes: sandbox.bytes,
      skipped: sandbox.skippedTotal,
    });

    const disaster: DisasterReport = await run.step(
      'simulateDisaster',
      'simulateDisaster',
      [sandbox.derivedTarget, scenario],
      { startToCloseTimeout: '1 hour', on },
    );
    run.fact('disaster', { at: disaster.disasterAt, actions: disaster.actions });

    const childInput: Record<string, unknown> = { target: sandbox.derivedTarget };
    // A restore restores the backup pinned when the sandbox was made (its archives are in the sandbox).
    if ((runbook === 'restore' || runbook === 'fullSystemRestore') && sandbox.backup)
      childInput.backupId = sandbox.backup.id;
    // An import imports the export the disaster wrote to the sandbox's copy of the destination.
    if (runbook === 'importScope' && disaster.export) {
      childInput.from = disaster.export.from;
      childInput.exportId = disaster.export.exportId;
    }
    const workflowId = `${info.workflowId}-${runbook}`;
    const recovery = await run.child('recovery', runbook, childInput, {
      workflowId,
      fact: {
        approvals,
        ...(approvals === 'people'
          ? { approve: `its gates wait for people: lifeboat approve ${workflowId} --as <name>` }
          : {}),
      },
    });

    const outcome = await run.step(
      'verifyOutcome',
      'verifyDrillOutcome',
      [sandbox.derivedTarget, { disaster, recovery, backupId: sandbox.backup?.id }],
      { ...LONG, on },
    );
    const passed = outcome.checks.every((c) => c.ok);
    run.fact('checks', outcome.checks);
    run.fact('passed', passed);

    const rtoSeconds = seconds(disaster.disasterAt, outcome.verifiedAt);
    const rtoObjective = plan.objectives.rtoMinutes;
    const rpoSeconds = outcome.dataAsOf ? seconds(outcome.dataAsOf, disaster.disasterAt) : undefined;
    const rpoObjective = plan.objectives.rpoMinutes;
    const rto: DrillProof['rto'] = {
      achievedSeconds: rtoSeconds,
      objectiveMinutes: rtoObjective,
      // Not recovered is not within any RTO.
      met: rtoObjective === undefined ? undefined : passed && rtoSeconds <= rtoObjective * 60,
    };
    const rpo: DrillProof['rpo'] = {
      achievedSeconds: rpoSeconds,
      objectiveMinutes: rpoObjective,
      met:
        rpoObjective === undefined || rpoSeconds === undefined ? undefined : rpoSeconds <= rpoObjective * 60,
      dataAsOf: outcome.dataAsOf,
    };
    run.fact('rto', rto);
    run.fact('rpo', rpo);

    const finishedAt = nowIso();
    const proof: DrillProof = {
      kind: 'lifeboat.drillProof',
      version: 1,
      drillId,
      workflowId: info.workflowId,
      runId: info.runId,
      target,
      scenario,
      approvals,
      recovery: {
        runbook,
        workflowId: recovery.workflowId,
        state: recovery.state,
        ...(recovery.outcome ? { outcome: recovery.outcome } : {}),
      },
      timings: {
        startedAt: run.status.startedAt,
        disasterAt: disaster.disasterAt,
        recoveredAt: outcome.verifiedAt,
        finishedAt,
      },
      checks: outcome.checks,
      passed,
      rto,
      rpo,
      ...(outcome.backup ? { backup: outcome.backup } : {}),
    };
    const signed = await run.step('signProof', 'signDrillProof', [target, proof], { on });
    run.fact('proof', signed);
    await run.step(
      'recordDrill',
      'recordDrill',
      [
        {
          drillId,
          workflowId: info.workflowId,
          target,
          scenario,
          passed,
          startedAt: run.status.startedAt,
          finishedAt,
          rtoSeconds,
          rtoObjectiveMinutes: rtoObjective,
          rpoSeconds,
          rpoObjectiveMinutes: rpoObjective,
          proofPath: signed.path,
        },
      ],
      { on },
    );

    await run.step('releaseDrillLock', 'releaseDrillLock', [target], { on });
    run.dropCompensation('releaseDrillLock');

    const failed = outcome.checks.filter((c) => !c.ok);
    return {
      outcome: passed ? 'passed' : 'failed',
      drillId,
      scenario,
      passed,
      checks: outcome.checks,
      recovery: proof.recovery,
      rto,
      rpo,
      ...(outcome.backup ? { backup: outcome.backup } : {}),
      proof: { path: signed.path, signaturePath: signed.signaturePath, contentSha256: signed.contentSha256 },
      sandbox: sandbox.sandbox,
      sandboxKept: `the sandbox ${sandbox.sandbox} is kept as the drill's evidence; remove it when it is no longer needed`,
      ...(passed
        ? {}
        : {
            warning: `DRILL FAILED (${scenario}): ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`,
          }),
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
drDrill.meta = meta;
