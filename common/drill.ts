/**
 * Drills: the scenarios `drDrill` can simulate, and the drill proof it emits (JSON, signed with the
 * target's drill signing key; `lifeboat proof verify` checks it). Shared by the runbook, the
 * activities and the CLI.
 */

/** Scenario name to the recovery runbook it runs (as a child workflow) against the sandbox. */
export const DRILL_SCENARIOS = {
  deleteLedger: 'panicRecovery',
  corruptFiles: 'restore',
  panicFlag: 'panicRecovery',
  corruptStore: 'corruptedStoreRecovery',
  corruptConfig: 'corruptedConfigRecovery',
  brokenAuditChain: 'auditChainRecovery',
  fullRestore: 'restore',
  hostLoss: 'restore',
  projectImport: 'importScope',
  corruptedDriverStore: 'corruptedDriverStore',
  fullSystemRestore: 'fullSystemRestore',
} as const;

export type DrillScenario = keyof typeof DRILL_SCENARIOS;

/** One item of the procedure's outcome checklist for the scenario. */
export interface DrillCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** The body of a drill proof; the file holds `{proof, contentSha256}` with a detached `.asc`. */
export interface DrillProof {
  kind: 'lifeboat.drillProof';
  version: 1;
  drillId: string;
  workflowId: string;
  runId: string;
  target: string;
  scenario: DrillScenario;
  /** How the drill's gates were decided. */
  approvals: 'automatic' | 'people';
  /** The recovery runbook run against the sandbox, as a child workflow. */
  recovery: { runbook: string; workflowId: string; state: string; outcome?: string };
  timings: { startedAt: string; disasterAt: string; recoveredAt: string; finishedAt: string };
  checks: DrillCheck[];
  passed: boolean;
  /** Disaster to verified recovery, against the target's objective. */
  rto: { achievedSeconds: number; objectiveMinutes?: number; met?: boolean };
  /** Age of the data recovered at the time of the disaster, against the target's objective. */
  rpo: { achievedSeconds?: number; objectiveMinutes?: number; met?: boolean; dataAsOf?: string };
  /** The backup the recovery used, where there was one. */
  backup?: { id: string; createdAt?: string; manifestSha256?: string };
}

/** A drill as the catalog keeps it (`lifeboat drills list`). */
export interface DrillRecord {
  drillId: string;
  workflowId: string;
  target: string;
  scenario: DrillScenario;
  passed: boolean;
  startedAt: string;
  finishedAt: string;
  rtoSeconds: number;
  rtoObjectiveMinutes?: number;
  rpoSeconds?: number;
  rpoObjectiveMinutes?: number;
  proofPath: string;
}
