/**
 * The procedure's outcome checklist of a drill (procedure 004 §14), checked on the sandbox once the
 * recovery runbook has run: did the recovery complete with the outcome that means recovered, and
 * does the sandbox show it — here for the panic, store, config and audit-chain scenarios, in
 * drillRestoreChecks.ts for the restore scenarios, in drillImport.ts for projectImport, in
 * drillDriverStore.ts for corruptedDriverStore, in drillSystemRestore.ts for fullSystemRestore. The
 * checks only read the sandbox (databases are checked on scratch copies); what they find is the
 * drill's evidence.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { DrillCheck, DrillProof } from '../common/drill';
import type { LifeboatConfig, TargetConfig } from '../config';
import { createAuditChainActivities } from './auditChain';
import { createConfigFileActivities } from './configFile';
import type { DisasterReport } from './drillDisaster';
import { driverStoreChecks } from './drillDriverStore';
import { projectImportChecks } from './drillImport';
import { adoptedCheck, restoreChecks } from './drillRestoreChecks';
import { systemRestoreChecks } from './drillSystemRestore';
import { errorText } from './errors';
import type { Catalog } from './lib/catalog';
import { entryTime, splitJsonLines } from './lib/chain';
import { withHeartbeats } from './lib/context';
import { listDatedFiles } from './lib/datedFiles';
import { exists, hashFile } from './lib/files';
import { check, fieldOf, integrityOf, type ScenarioChecks } from './lib/sandboxChecks';
import { createPanicActivities } from './panic';
import { createStoreActivities, listBackups } from './store';
import type { ChildReport } from '../common/types';

/** How the recovery runbook (the drill's child run, `run.child()`) ended. */
export type RecoveryReport = ChildReport;

export interface DrillOutcome {
  checks: DrillCheck[];
  /** When the checks were done: the end of the RTO clock. */
  verifiedAt: string;
  /** The time of the data recovered (the backup's), for the RPO. */
  dataAsOf?: string;
  backup?: DrillProof['backup'];
}

/** What a recovery runbook's `outcome` must be for the disaster to count as recovered. */
const RECOVERED: Record<string, string | undefined> = {
  panicRecovery: 'recovered',
  corruptedStoreRecovery: 'restored',
  corruptedConfigRecovery: 'restoredBackup',
  auditChainRecovery: 'restored',
  restore: undefined,
  importScope: undefined,
  // The sandbox has no restore points (System Restore is a person's): the last known good set.
  corruptedDriverStore: 'restoredFromSet',
  fullSystemRestore: 'restored',
};

/**
 * The checklist of a drill's sandbox; `backups` is the catalog the restore scenarios' backups are
 * listed in.
 */
export function createOutcomeChecks(config: LifeboatConfig, backups: () => Catalog) {
  const store = createStoreActivities(config);
  const configFile = createConfigFileActivities(config);
  const chain = createAuditChainActivities(config);
  const panic = createPanicActivities(config);

  async function panicChecks(
    target: TargetConfig,
    sandbox: string,
    recovery: RecoveryReport,
    disaster: DisasterReport,
  ): Promise<ScenarioChecks> {
    const settings = target.panic!;
    const result = recovery.result;
    const childChecks = fieldOf<{ name: string; ok: boolean; detail: string }[]>(result, 'checks') ?? [];
    const childCheck = (name: string) => childChecks.find((c) => c.name === name);
    const flagGone = !(await exists(settings.flag));
    const ledgerPresent = await exists(settings.ledger);
    const integrity = ledgerPresent
      ? await integrityOf(settings.ledger, path.join(sandbox, 'scratch'))
      : 'missing';
    const checks = [
      check(
        'panicFlagCleared',
        flagGone,
        flagGone ? `${settings.flag} is gone` : `${settings.flag} is still there`,
      ),
      check(
        'ledgerIntegrity',
        integrity === 'ok',
        integrity === 'ok'
          ? `${settings.ledger} passes PRAGMA integrity_check`
          : `${settings.ledger}: ${integrity === 'missing' ? 'the ledger is missing' : integrity}`,
      ),
    ];
    const ledger = fieldOf<{ action: string; backup?: string; sha256?: string }>(result, 'ledger');
    if (disaster.scenario === 'deleteLedger') {
      checks.push(
        check(
          'ledgerRestored',
          ledger?.action === 'restored',
          ledger?.action === 'restored'
            ? `the deleted ledger was restored from ${ledger.backup}`
            : `the recovery did not restore the deleted ledger (${ledger?.action ?? 'no ledger step'})`,
        ),
      );
    }
    const nonce = childCheck('nonceStoreRebuilt');
    checks.push(
      check(
        'nonceStoreRebuilt',
        nonce?.ok === true,
        nonce?.ok
          ? "the drill's 'rebuildNonceStore' command ran in the sandbox and succeeded"
          : 'the nonce store was not rebuilt',
      ),
    );
    let proofChain: DrillCheck;
    try {
      const verdict = await panic.verifyProofChain(target.name);
      proofChain = check(
        'proofChainContinuous',
        true,
        `${verdict.files} proof file(s), ${verdict.first} to ${verdict.last}, form an unbroken Merkle-root chain`,
      );
    } catch (err) {
      proofChain = check('proofChainContinuous', false, errorText(err));
    }
    checks.push(proofChain);
    let health: DrillCheck;
    try {
      const probe = await panic.probeHealth(target.name);
      health = check('healthy', true, `${probe.url} answered HTTP ${probe.status}`);
    } catch (err) {
      health = check('healthy', false, errorText(err));
    }
    checks.push(health);
    const started = childCheck('servicesStarted');
    checks.push(
      check(
        'servicesStarted',
        started?.ok === true,
        started?.ok ? "the drill's 'start' command succeeded" : 'the services were not started again',
      ),
    );
    const proof = fieldOf<{ path: string; sha256: string }>(result, 'proof');
    const proofOk =
      !!proof && (await exists(proof.path)) && (await hashFile(proof.path)).sha256 === proof.sha256;
    checks.push(
      check(
        'recoveryProofWritten',
        proofOk,
        proofOk ? `${proof!.path} (sha256 ${proof!.sha256.slice(0, 16)}…)` : 'no intact recovery proof',
      ),
    );

    if (ledger?.action === 'restored' && ledger.backup) {
      const file = path.join(settings.ledgerBackups, path.basename(ledger.backup));
      const st = await fsp.stat(file).catch(() => undefined);
      const createdAt = st?.mtime.toISOString();
      return { checks, backup: { id: ledger.backup, createdAt }, dataAsOf: createdAt };
    }
    // The live ledger passed its check and was kept: no data older than the disaster came back.
    return { checks, dataAsOf: ledger?.action === 'kept' ? disaster.disasterAt : undefined };
  }

  async function storeChecks(target: TargetConfig, recovery: RecoveryReport): Promise<ScenarioChecks> {
    const settings = target.store!;
    const result = recovery.result;
    const verdict = await store.verifyPrimary(target.name, {});
    const checks = [
      check(
        'primaryVerifies',
        verdict.valid,
        verdict.valid
          ? `${settings.primary} matches the SHA-256 in its .meta`
          : `${settings.primary}: ${verdict.problem}`,
      ),
    ];
    const used = fieldOf<string>(result, 'backupUsed');
    const backup = used ? (await listBackups(settings)).find((b) => b.name === used) : undefined;
    const same = !!backup && verdict.valid && (await hashFile(backup.file)).sha256 === verdict.sha256;
    checks.push(
      check(
        'restoredFromValidBackup',
        same,
        same
          ? `the primary holds the bytes of backup ${used}`
          : `the primary does not hold the bytes of a backup (${used ?? 'none used'})`,
      ),
    );
    const kept = fieldOf<string[]>(result, 'quarantined') ?? [];
    const keptOk = kept.length > 0 && (await Promise.all(kept.map((f) => exists(f)))).every(Boolean);
    checks.push(
      check(
        'corruptFileKept',
        keptOk,
        keptOk ? `kept in quarantine: ${kept.join(', ')}` : 'the corrupt primary was not kept in quarantine',
      ),
    );
    const createdAt = backup ? `${backup.takenAt}Z` : undefined;
    return { checks, backup: used ? { id: used, createdAt } : undefined, dataAsOf: createdAt };
  }

  async function configChecks(target: TargetConfig, recovery: RecoveryReport): Promise<ScenarioChecks> {
    const settings = target.configFile!;
    const result = recovery.result;
    const verdict = await configFile.checkConfigFile(target.name, {});
    const checks = [
      check(
        'configParses',
        verdict.valid,
        verdict.valid
          ? `${settings.file} parses as ${settings.format}`
          : `${settings.file}: ${verdict.problem}`,
      ),
    ];
    const source = fieldOf<string>(result, 'source');
    const outcome = fieldOf<string>(result, 'outcome');
    const same =
      outcome === 'restoredBackup' &&
      !!source &&
      (await exists(source)) &&
      (await hashFile(source)).sha256 === verdict.sha256;
    checks.push(
      check(
        'rolledBackToBackup',
        same,
        same
          ? `the config holds the bytes of backup ${path.basename(source!)}`
          : outcome === 'restoredDefault'
            ? 'the config fell back to the compiled-in default: no backup was rolled back to'
            : 'the config does not hold the bytes of a backup',
      ),
    );
    const kept = fieldOf<string>(result, 'quarantined');
    const keptOk = !!kept && (await exists(kept));
    checks.push(
      check(
        'corruptFileKept',
        keptOk,
        keptOk ? `kept in quarantine: ${kept}` : 'the corrupt config was not kept in quarantine',
      ),
    );
    if (outcome !== 'restoredBackup' || !source) return { checks };
    const name = path.basename(source);
    const tried = fieldOf<{ name: string; takenAt?: string }[]>(result, 'tried') ?? [];
    const createdAt = tried.find((t) => t.name === name)?.takenAt;
    return { checks, backup: { id: name, createdAt }, dataAsOf: createdAt };
  }

  async function chainChecks(target: TargetConfig, recovery: RecoveryReport): Promise<ScenarioChecks> {
    const settings = target.auditChain!;
    const result = recovery.result;
    const verdict = await chain.verifyAuditChain(target.name, {});
    const checks = [
      check(
        'chainContinuous',
        verdict.valid,
        verdict.valid
          ? `${settings.file}: ${verdict.entries} entries, every hash and prevHash link verifies`
          : `${settings.file} is broken at entry ${verdict.brokenAt?.index}: ${verdict.brokenAt?.reason}`,
      ),
    ];
    const head = fieldOf<string>(result, 'head');
    checks.push(
      check(
        'chainHeadRestored',
        verdict.valid && head !== undefined && verdict.head === head,
        head !== undefined && verdict.head === head
          ? `the chain ends at the restored head ${head.slice(0, 16)}…, where appending resumes`
          : `the chain head ${verdict.head.slice(0, 16)}… is not the restored head ${head?.slice(0, 16) ?? '(none)'}`,
      ),
    );
    const kept = fieldOf<string>(result, 'quarantined');
    const keptOk = !!kept && (await exists(kept));
    checks.push(
      check(
        'brokenChainKept',
        keptOk,
        keptOk ? `kept in quarantine: ${kept}` : 'the broken chain was not kept in quarantine',
      ),
    );
    const gap = fieldOf<{ lost: number; firstIndex?: number; lastIndex?: number }>(result, 'gap');
    checks.push(
      check(
        'gapRecorded',
        gap !== undefined,
        gap
          ? gap.lost === 0
            ? 'no entries were lost'
            : `${gap.lost} entries lost (index ${gap.firstIndex} to ${gap.lastIndex}), recorded in the audit`
          : 'the recovery recorded no gap',
      ),
    );
    const used = fieldOf<string>(result, 'backupUsed');
    if (!used) return { checks };
    // The data recovered is as old as the newest entry of the restored chain.
    const lines = splitJsonLines(await fsp.readFile(settings.file, 'utf8').catch(() => ''));
    const newest = [...lines].reverse().find((l) => l.entry !== undefined && entryTime(l.entry));
    const { files } = await listDatedFiles(settings.backups, ['.json', '.jsonl']);
    const createdAt = files.find((f) => f.name === used)?.takenAt;
    const dataAsOf = newest ? new Date(entryTime(newest.entry)!).toISOString() : createdAt;
    return { checks, backup: { id: used, createdAt }, dataAsOf };
  }

  /** The checklist of the disaster's scenario on `sandbox` (the activity: verifyDrillOutcome in drill.ts). */
  async function verifyOutcome(
    target: TargetConfig,
    sandbox: string,
    input: { disaster: DisasterReport; recovery: RecoveryReport; backupId?: string },
  ): Promise<DrillOutcome> {
    const { disaster, recovery } = input;
    const expected = RECOVERED[recovery.runbook];
    const completed = recovery.state === 'completed';
    const recovered = completed && (expected === undefined || recovery.outcome === expected);
    const first = check(
      'recoveryCompleted',
      recovered,
      !completed
        ? `${recovery.runbook} (${recovery.workflowId}) ended ${recovery.state}: ${recovery.error ?? 'no reason given'}`
        : recovered
          ? `${recovery.runbook} (${recovery.workflowId}) completed${recovery.outcome ? ` with outcome '${recovery.outcome}'` : ''}`
          : `${recovery.runbook} (${recovery.workflowId}) completed with outcome '${recovery.outcome}', not '${expected}': the simulated disaster was not recovered from`,
    );
    const found = await withHeartbeats({ phase: 'verify', scenario: disaster.scenario }, async () => {
      switch (disaster.scenario) {
        case 'corruptFiles':
        case 'fullRestore':
          return restoreChecks(backups, target, sandbox, input.backupId, disaster);
        case 'hostLoss': {
          const restored = await restoreChecks(backups, target, sandbox, input.backupId, disaster);
          return { ...restored, checks: [adoptedCheck(target, input.backupId), ...restored.checks] };
        }
        case 'deleteLedger':
        case 'panicFlag':
          return panicChecks(target, sandbox, recovery, disaster);
        case 'corruptStore':
          return storeChecks(target, recovery);
        case 'corruptConfig':
          return configChecks(target, recovery);
        case 'brokenAuditChain':
          return chainChecks(target, recovery);
        case 'projectImport':
          return projectImportChecks(target, sandbox, recovery);
        case 'corruptedDriverStore':
          return driverStoreChecks(target, sandbox, recovery);
        case 'fullSystemRestore':
          return systemRestoreChecks(backups, target, sandbox, input, (name) => panic.probeHealth(name));
      }
    });
    // Integrity checks ran on copies in <sandbox>/scratch; the empty folder is not evidence.
    await fsp.rmdir(path.join(sandbox, 'scratch')).catch(() => undefined);
    return {
      checks: [first, ...found.checks],
      verifiedAt: new Date().toISOString(),
      dataAsOf: found.dataAsOf,
      backup: found.backup,
    };
  }

  return verifyOutcome;
}
