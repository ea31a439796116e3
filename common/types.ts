/**
 * The shapes that cross the workflow boundary: run status (the `status` Query), decisions,
 * gate policies, the secret-free view of a target, and audit events.
 */
import type { RunState } from './constants';

export type DecisionAction = 'approve' | 'retry' | 'skip' | 'stop';

/** Who may open a gate, how many distinct approvers it needs, and what its timeout means. */
export interface GatePolicy {
  /** Names allowed to approve; `['*']` lets anyone approve. */
  approvers: string[];
  /** Distinct approvers needed. */
  quorum: number;
  /** Seconds to wait before the timeout outcome applies; absent means wait forever. */
  timeoutSeconds?: number;
  /** `stop` ends the run safely; `proceed` opens the gate (recorded as decided by `timeout`). */
  onTimeout: 'stop' | 'proceed';
  /** Opens at once without a human (recorded as decided by `policy`). */
  automatic: boolean;
  /** Approvals must carry a signature by an approver's key (common/statements.ts). */
  signed?: boolean;
  /** The run's requester (its signed starter, or `schedule:<id>`) may not approve. */
  notRequester?: boolean;
}

export interface Approval {
  actor: string;
  at: string;
  comment?: string;
  /** A signed approval: the fingerprint of the key that signed it. */
  key?: string;
}

/** What a person signs to decide at a signed gate or failure (the CLI builds it from this). */
export interface SigningRequest {
  /** The canonical JSON of what the run shows (common/statements.ts). */
  subject: string;
  subjectSha256: string;
  /** The decisions that need a signature here. */
  actions: ('approve' | 'retry' | 'skip' | 'stop')[];
  /** The line to run: the Temporal UI cannot sign. */
  cli: string;
}

/**
 * What approving a destructive gate will do, computed by a step before the gate: shown in the gate's
 * reason, the run's current details, the notification and the status.
 */
export interface GatePlan {
  /** One sentence: what approving changes, and what is kept to put it back. */
  summary: string;
  /** The consequences, one line each (counts and bytes, what is kept where). */
  effects: string[];
  /** Restore: files in the live root that changed after the backup was taken, newest first (a few). */
  newest?: { path: string; modifiedAt: string; bytes: number }[];
}

/** What a waiting run waits for. */
export interface WaitingFor {
  kind: 'gate' | 'failure';
  /** The step that failed, or the step the gate protects. */
  step: string;
  gate?: string;
  reason: string;
  since: string;
  /** Decisions a responder may send now. */
  allowed: DecisionAction[];
  approvers?: string[];
  quorum?: number;
  approvals?: Approval[];
  timeoutAt?: string;
  errorType?: string;
  /** Gates: what approving will do. */
  plan?: GatePlan;
  /** Where decisions must be signed: the subject to sign and how. */
  signing?: SigningRequest;
  /** notRequester gates: who started the run and so may not approve. */
  requester?: string;
}

export interface StepRecord {
  name: string;
  state: 'running' | 'succeeded' | 'failed' | 'skipped' | 'waiting';
  attempts: number;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  result?: unknown;
  error?: string;
}

export interface DecisionRecord {
  action: DecisionAction;
  actor: string;
  at: string;
  comment?: string;
  gate?: string;
  step?: string;
  /** A signed decision: the fingerprint of the key that signed it. */
  key?: string;
  /** True when a signal carried a decision that the checks refused. */
  refused?: boolean;
  refusal?: string;
}

export interface Progress {
  step: string;
  done: number;
  total?: number;
  unit: string;
  at: string;
}

/** The answer of the `status` Query. */
export interface RunStatus {
  runbook: string;
  target: string;
  state: RunState;
  startedAt: string;
  endedAt?: string;
  currentStep?: string;
  waiting?: WaitingFor;
  steps: StepRecord[];
  decisions: DecisionRecord[];
  progress?: Progress;
  /** Runbook-specific facts so far (e.g. the backup chosen, what was quarantined). */
  /** Set once the worker has checked the input (target and runbook-specific fields); the CLI waits for it. */
  inputAccepted?: boolean;
  /** Who asked for the run: a signed start's identity, or `schedule:<id>`; absent when unknown. */
  requester?: string;
  facts: Record<string, unknown>;
  result?: unknown;
  error?: string;
}

/** What every runbook's workflow returns. */
export interface RunOutcome<R = unknown> {
  state: 'completed' | 'stopped';
  result?: R;
  stoppedBy?: string;
  stopReason?: string;
  status: RunStatus;
}

/** How a child runbook ended (`run.child()`); never a throw, so the parent decides what it means. */
export interface ChildReport {
  runbook: string;
  workflowId: string;
  state: 'completed' | 'stopped' | 'failed';
  /** The child's `result.outcome`, when it completed with one. */
  outcome?: string;
  /** The child's result, when it completed. */
  result?: unknown;
  /** Why it stopped or failed. */
  error?: string;
}

/** A target as a workflow may see it: names and policies only, never paths to secrets. */
export interface TargetView {
  name: string;
  description?: string;
  gates: Record<string, Partial<GatePolicy>>;
  /** Whether a stop must be signed. */
  signedStop?: boolean;
  /** A target held by an agent (absent: the control plane's own): where its activities run. */
  agent?: { name: string; taskQueue: string; timeoutSeconds: number; build: string; activities: string[] };
  sections: string[];
  /** Whether the worker's config has webhooks to notify. */
  notify: boolean;
}

/** What the engine tells the configured webhooks about a run. */
export interface NotifyMessage {
  event: 'waiting' | 'completed' | 'stopped' | 'failed' | 'alert' | 'stuck';
  at: string;
  runbook: string;
  target: string;
  state: string;
  reason?: string;
  gate?: string;
  step?: string;
  workflowId: string;
  runId: string;
  namespace: string;
  details?: Record<string, unknown>;
}

export interface NotifyReceipt {
  /** Webhooks reached, by position and host. */
  delivered: string[];
  webhooks: number;
}

export interface AuditEventInput {
  /** Unique per event; makes writes idempotent under activity retries. */
  eventKey: string;
  at: string;
  workflowId: string;
  runId: string;
  runbook: string;
  target: string;
  step?: string;
  event: string;
  actor: string;
  details?: Record<string, unknown>;
}
