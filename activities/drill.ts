/**
 * Activities of drDrill (procedure 004 "Disaster Recovery Drill", 003 §8 and §14, 001 §6): check
 * that a scenario fits the target, make the sandbox (activities/lib/sandbox.ts), simulate the
 * disaster in it (drillDisaster.ts), and verify the outcome checklist of the procedure once the
 * recovery runbook has run against the sandbox (drillChecks.ts, drillRestoreChecks.ts). Signing the
 * proof and recording the drill are in drillProof.ts; what is particular to a scenario is in its own
 * file (drillImport.ts, drillDriverStore.ts, drillSystemRestore.ts).
 *
 * Everything here acts on the sandbox only; production paths are read once, to copy them.
 * The sandbox is never removed: it is the drill's evidence (remove `<drill.directory>/<drillId>`
 * by hand when it is no longer needed).
 */
import { Context } from '@temporalio/activity';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { DRILL_SCENARIOS, type DrillScenario } from '../common/drill';
import type { LifeboatConfig, Objectives, TargetConfig } from '../config';
import { createOutcomeChecks, type DrillOutcome, type RecoveryReport } from './drillChecks';
import { simulateInSandbox, type DisasterReport } from './drillDisaster';
import { copyDriverStore, driverStoreLacks } from './drillDriverStore';
import { invalidInput, stopFailure } from './errors';
import { createExportActivities } from './exports';
import { Catalog, manifestDigest } from './lib/catalog';
import { withHeartbeats } from './lib/context';
import { exists } from './lib/files';
import { acquireLock, breakLock, releaseLock, type LockResult } from './lib/lock';
import {
  cloneIntoSandbox,
  deriveTarget,
  drillTargetName,
  isDrillId,
  readSandboxRecord,
  sandboxDir,
  writeSandboxRecord,
  type DrillApprovals,
  type SandboxRecord,
} from './lib/sandbox';
import { findTarget, targetSections } from './targets';

export type { DisasterReport } from './drillDisaster';
export type { DrillOutcome, RecoveryReport } from './drillChecks';

/** Scenarios whose recovery is a restore of the target's newest backup. */
const RESTORE_SCENARIOS: DrillScenario[] = ['corruptFiles', 'fullRestore', 'hostLoss', 'fullSystemRestore'];

export interface DrillPlan {
  scenario: DrillScenario;
  runbook: string;
  /** Every scenario the target (with its drill's commands) can run. */
  fits: DrillScenario[];
  objectives: Objectives;
}

export interface SandboxSummary {
  drillId: string;
  sandbox: string;
  /** The target the recovery runbook is started against: `<target>@drill-<drillId>`. */
  derivedTarget: string;
  createdAt: string;
  approvals: DrillApprovals;
  files: number;
  bytes: number;
  linked: number;
  databases: number;
  paths: { production: string; sandbox: string; kind: string }[];
  /** What was not copied (the first 20; sandbox.json lists all), and how many. */
  skipped: { path: string; reason: string }[];
  skippedTotal: number;
  /** Restore scenarios: the backup the recovery restores (pinned when the sandbox was made). */
  backup?: SandboxRecord['backup'];
  /** The derived target's sections (what the control plane routes a drill of an agent's target by). */
  sections?: string[];
}

function describeRequirement(target: string, section: string): string {
  if (section.startsWith('commands.')) {
    const name = section.slice('commands.'.length);
    return `the command '${name}' in its drill's commands (targets.${target}.drill.commands.${name}; a drill never runs the target's own commands, which act on production)`;
  }
  if (section === 'driverStore')
    return `a 'driverStore' section with the 'directory' adapter (targets.${target}.driverStore.adapter; a machine's own driver store, pnputil, is never sandboxed)`;
  if (section === 'health')
    return `a 'health' section (targets.${target}.health.url; the recovery probes it once the drill's 'start' command has started the sandbox's services)`;
  return `a '${section}' section`;
}

function sandboxOf(target: TargetConfig): string {
  if (!target.sandbox) throw invalidInput(`target '${target.name}' is not a drill's sandbox target`);
  return target.sandbox;
}

function drillLockFolder(config: LifeboatConfig, targetName: string): string {
  const drill = findTarget(config, targetName).drill;
  if (!drill) throw invalidInput(`target '${targetName}' has no 'drill' section in the worker's config`);
  return path.join(drill.directory, 'locks', targetName);
}

export function createDrillActivities(config: LifeboatConfig, catalog?: Catalog) {
  let opened: Catalog | undefined;
  const backups = () => catalog ?? (opened ??= new Catalog(config.catalog, { readonly: true }));
  const verifyOutcome = createOutcomeChecks(config, backups);

  /** Sections (and drill commands) a recovery runbook needs that the target lacks in a drill. */
  function missingFor(target: TargetConfig, requires: string[]): string[] {
    return requires.filter((section) => {
      if (section.startsWith('commands.'))
        return target.drill?.commands[section.slice('commands.'.length)] === undefined;
      if (section === 'driverStore') return target.driverStore?.adapter !== 'directory';
      return (target as unknown as Record<string, unknown>)[section] === undefined;
    });
  }

  /**
   * The backup a restore drill restores: the newest; for a host-loss drill the newest whose whole
   * chain was copied offsite (the offsite copy is all that drill keeps).
   */
  function newestBackup(target: TargetConfig, scenario?: DrillScenario) {
    const listed = backups().list(target.catalogName ?? target.name);
    if (scenario !== 'hostLoss') return listed[0];
    const offsite = (id: string | null): boolean => {
      if (!id) return true;
      const entry = backups().get(id);
      return !!entry?.offsiteCopy && offsite(entry.parent);
    };
    return listed.find((e) => offsite(e.backupId));
  }

  return {
    /**
     * Takes the target's drill lock (`<drill.directory>/locks/<target>/.lifeboat.lock`): one drill of
     * a target at a time. A lock left by a drill whose process is gone is broken (the old lock file
     * kept beside it); a live holder STOPs (LockHeld), or with onBusy 'skip' is returned to the run.
     */
    async acquireDrillLock(targetName: string, onBusy: 'stop' | 'skip' = 'stop'): Promise<LockResult> {
      const folder = drillLockFolder(config, targetName);
      await fsp.mkdir(folder, { recursive: true });
      const info = Context.current().info.workflowExecution;
      const me = {
        workflowId: info?.workflowId ?? 'unknown',
        runId: info?.runId ?? 'unknown',
        purpose: 'drDrill',
      };
      let result = await acquireLock(folder, me);
      if (!result.acquired && result.stale) {
        await breakLock(folder, result.holder);
        result = await acquireLock(folder, me);
      }
      if (!result.acquired && onBusy === 'stop') throw stopFailure('LockHeld', result.problem);
      return result;
    },

    async releaseDrillLock(targetName: string): Promise<boolean> {
      const info = Context.current().info.workflowExecution;
      return releaseLock(drillLockFolder(config, targetName), info?.workflowId ?? '', info?.runId ?? '');
    },
    /**
     * Checks that `scenario` fits the target: its recovery runbook's sections are configured (and
     * its commands are among the drill's commands), and a restore scenario has a backup to restore.
     * Otherwise InvalidInput naming the scenario, what is missing and the scenarios that fit.
     */
    async checkDrillScenario(
      targetName: string,
      scenario: DrillScenario,
      requires: Record<string, string[]>,
      /** The backup to restore, chosen by the control plane (a sandbox on a standby host, whose catalog lacks it). */
      pinned?: SandboxRecord['backup'],
    ): Promise<DrillPlan> {
      const target = findTarget(config, targetName);
      if (!target.drill)
        throw invalidInput(`target '${targetName}' has no 'drill' section in the worker's config`);
      const scenarios = Object.keys(DRILL_SCENARIOS) as DrillScenario[];
      if (!scenarios.includes(scenario))
        throw invalidInput(
          `input.scenario '${scenario}' is not a drill scenario; the scenarios are: ${scenarios.join(', ')}`,
        );
      const driverLacks = await driverStoreLacks(target, targetName);
      const missing = (s: DrillScenario) => {
        const lacks = missingFor(target, requires[DRILL_SCENARIOS[s]] ?? []).map((section) =>
          describeRequirement(targetName, section),
        );
        if (s === 'hostLoss' && !target.offsite)
          lacks.push(`an 'offsite' repository (a host-loss drill recovers from the offsite copy alone)`);
        if (s === 'projectImport' && Object.keys(target.exports ?? {}).length === 0)
          lacks.push(
            `an export destination (targets.${targetName}.exports; a projectImport drill exports a project of the sandbox there, then imports it back)`,
          );
        if (s === 'corruptedDriverStore' && lacks.length === 0) lacks.push(...driverLacks);
        if (
          RESTORE_SCENARIOS.includes(s) &&
          lacks.length === 0 &&
          !(pinned && s === scenario) &&
          !newestBackup(target, s)
        )
          lacks.push(
            s === 'hostLoss'
              ? 'a backup copied offsite, with its chain (run fullBackup with an offsite repository first)'
              : 'a backup in the catalog to restore (run fullBackup first)',
          );
        return lacks;
      };
      const fits = scenarios.filter((s) => missing(s).length === 0);
      const lacks = missing(scenario);
      const runbook = DRILL_SCENARIOS[scenario];
      if (lacks.length > 0) {
        throw invalidInput(
          `scenario '${scenario}' does not fit target '${targetName}': it runs ${runbook} against the sandbox, which needs ${lacks.join(' and ')}; scenarios that fit '${targetName}': ${fits.join(', ') || 'none'}`,
        );
      }
      return { scenario, runbook, fits, objectives: target.objectives };
    },

    /**
     * Makes the sandbox `<drill.directory>/<drillId>/` (see activities/lib/sandbox.ts). A retry finds
     * a finished sandbox and returns it; an unfinished one is made again.
     */
    async prepareSandbox(
      targetName: string,
      options: {
        drillId: string;
        scenario: DrillScenario;
        approvals: DrillApprovals;
        runbook: string;
        gates: string[];
        createdBy: string;
        /** As checkDrillScenario's `pinned`. */
        backup?: SandboxRecord['backup'];
      },
    ): Promise<SandboxSummary> {
      const target = findTarget(config, targetName);
      if (!target.drill)
        throw invalidInput(`target '${targetName}' has no 'drill' section in the worker's config`);
      if (!isDrillId(options.drillId)) throw invalidInput(`'${options.drillId}' is not a drill id`);
      const sandbox = sandboxDir(target.drill, options.drillId);
      const summary = (record: SandboxRecord): SandboxSummary => ({
        drillId: record.drillId,
        sandbox,
        derivedTarget: record.derivedTarget,
        createdAt: record.createdAt,
        approvals: record.approvals,
        files: record.mapping.reduce((n, m) => n + m.files, 0),
        bytes: record.mapping.reduce((n, m) => n + m.bytes, 0),
        linked: record.mapping.reduce((n, m) => n + m.linked, 0),
        databases: record.mapping.reduce((n, m) => n + m.databases, 0),
        paths: record.mapping.map((m) => ({ production: m.production, sandbox: m.sandbox, kind: m.kind })),
        skipped: record.skipped.slice(0, 20),
        skippedTotal: record.skipped.length,
        backup: record.backup,
        sections: targetSections(deriveTarget(target, record, sandbox)),
      });
      if (await exists(path.join(sandbox, 'sandbox.json'))) {
        const record = readSandboxRecord(sandbox);
        if (record.target !== targetName || record.scenario !== options.scenario)
          throw stopFailure(
            'AmbiguousTarget',
            `${sandbox} already holds the sandbox of another drill (target '${record.target}', scenario ${record.scenario}); move it aside and retry`,
          );
        return summary(record);
      }
      let backup: SandboxRecord['backup'] = options.backup;
      if (RESTORE_SCENARIOS.includes(options.scenario) && !backup) {
        const newest = newestBackup(target, options.scenario);
        if (!newest)
          throw invalidInput(
            `target '${targetName}' has no backup in the catalog to restore; run fullBackup first`,
          );
        const manifest = backups().manifest(newest.backupId)!;
        const chainIds: string[] = [];
        for (let id: string | null = newest.backupId; id; id = backups().get(id)?.parent ?? null)
          chainIds.unshift(id);
        backup = {
          id: newest.backupId,
          createdAt: newest.createdAt,
          manifestSha256: manifestDigest(newest, manifest),
          chain: chainIds,
        };
      }
      // An unfinished sandbox (a crash while copying) is made again from the start.
      await fsp.rm(path.join(sandbox, 'fs'), { recursive: true, force: true });
      await fsp.mkdir(sandbox, { recursive: true });
      const { mapping, skipped } = await withHeartbeats({ phase: 'sandbox', sandbox }, async () => {
        const cloned = await cloneIntoSandbox(target, sandbox);
        // A driver store is not among the paths every sandbox copies (see drillDriverStore.ts).
        if (options.scenario === 'corruptedDriverStore') {
          const drivers = await copyDriverStore(target, sandbox);
          cloned.mapping.push(...drivers.mapping);
          cloned.skipped.push(...drivers.skipped);
        }
        return cloned;
      });
      const record: SandboxRecord = {
        kind: 'lifeboat.drillSandbox',
        version: 1,
        drillId: options.drillId,
        target: targetName,
        derivedTarget: drillTargetName(targetName, options.drillId),
        scenario: options.scenario,
        runbook: options.runbook,
        gates: options.gates,
        approvals: options.approvals,
        createdAt: new Date().toISOString(),
        createdBy: options.createdBy,
        mapping,
        skipped,
        backup,
      };
      await writeSandboxRecord(sandbox, record);
      return summary(record);
    },

    /**
     * Simulates the scenario's disaster in the sandbox of `derivedTarget` and writes down what it
     * did (`disaster.json`); a retry after that returns the record and does nothing again.
     */
    async simulateDisaster(derivedTarget: string, scenario: DrillScenario): Promise<DisasterReport> {
      const target = findTarget(config, derivedTarget);
      const writeExport =
        scenario === 'projectImport' ? createExportActivities(config).writeExport : undefined;
      return simulateInSandbox(target, sandboxOf(target), scenario, writeExport);
    },

    /**
     * The procedure's outcome checklist for the scenario, checked on the sandbox after the
     * recovery: files restored as backed up, chain continuous, integrity checks, flag cleared,
     * nonce store rebuilt, config parses, primary verifies, health (where the target has one).
     * Also what the RPO is measured from: the time of the data recovered, and the backup used.
     */
    async verifyDrillOutcome(
      derivedTarget: string,
      input: { disaster: DisasterReport; recovery: RecoveryReport; backupId?: string },
    ): Promise<DrillOutcome> {
      const target = findTarget(config, derivedTarget);
      return verifyOutcome(target, sandboxOf(target), input);
    },
  };
}
