/**
 * Signed decisions: what a person signs to approve a gate (or retry, skip, stop a run, or start one
 * as its requester), and the pure checks of what the statement binds. Shared by the workflow (which
 * publishes the subject and refuses a wrong binding at once), the verifying activity (which checks
 * the signature, the key, the expiry and the nonce) and the CLI (which builds and signs it).
 *
 * The subject is the canonical JSON of what the run shows the approver; the statement binds its
 * SHA-256, so an approval signed for one gate, one reason, one run cannot open another.
 * Free of Node-only imports: bundled into the workflow sandbox.
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';

/** JSON with object keys sorted recursively and no spaces; `undefined` members are left out. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

export type SignedAction = 'approve' | 'retry' | 'skip' | 'stop' | 'start';

/** Longest a statement may live, whatever `--expires` says. */
export const MAX_STATEMENT_SECONDS = 3600;
export const DEFAULT_STATEMENT_SECONDS = 15 * 60;
/** Clock skew tolerated between the signer and the worker. */
export const CLOCK_SKEW_SECONDS = 300;

/** What a signed decision carries: the statement's exact text and a detached armored signature. */
export interface SignedDecision {
  statement: string;
  signature: string;
}

/** The statement, as signed (its text is its canonical JSON). */
export interface DecisionStatement {
  kind: 'lifeboat.decision';
  version: 1;
  action: SignedAction;
  namespace: string;
  workflowId: string;
  /** Absent for `start` (the run does not exist yet). */
  runId?: string;
  gate?: string;
  step?: string;
  /** SHA-256 of the subject the run published (for `start`: of the runbook, target and input). */
  subjectSha256: string;
  identity: string;
  issuedAt: string;
  expiresAt: string;
  nonce: string;
  comment?: string;
}

/** What the run shows and the statement must match. */
export interface Binding {
  action: SignedAction;
  namespace: string;
  workflowId: string;
  runId?: string;
  gate?: string;
  step?: string;
  subjectSha256: string;
}

/** The subject of a gate: what the approver is shown and approves. */
export function gateSubject(b: {
  namespace: string;
  workflowId: string;
  runId: string;
  runbook: string;
  target: string;
  gate: string;
  reason: string;
  facts: Record<string, unknown>;
}): string {
  return canonicalJson({ kind: 'lifeboat.gate', ...b });
}

/** The subject of a failed step or hold: retry and skip are signed against it. */
export function failureSubject(b: {
  namespace: string;
  workflowId: string;
  runId: string;
  runbook: string;
  target: string;
  step: string;
  reason: string;
}): string {
  return canonicalJson({ kind: 'lifeboat.failure', ...b });
}

/** The subject of a stop: the run itself. */
export function runSubject(b: { namespace: string; workflowId: string; runId: string }): string {
  return canonicalJson({ kind: 'lifeboat.run', ...b });
}

/** The subject of a signed start: what is started, with exactly which input. */
export function startSubject(b: {
  namespace: string;
  workflowId: string;
  runbook: string;
  target: string;
  input: Record<string, unknown>;
}): string {
  return canonicalJson({ kind: 'lifeboat.start', ...b });
}

const FIELDS: Record<string, 'string' | 'number'> = {
  kind: 'string',
  version: 'number',
  action: 'string',
  namespace: 'string',
  workflowId: 'string',
  subjectSha256: 'string',
  identity: 'string',
  issuedAt: 'string',
  expiresAt: 'string',
  nonce: 'string',
};

/** Parses a statement's text: a problem naming the field, or the statement. */
export function parseStatement(text: unknown): { statement: DecisionStatement } | { problem: string } {
  if (typeof text !== 'string' || text.length > 8192)
    return { problem: 'signed.statement must be the text of a signed statement (at most 8 KiB)' };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { problem: 'signed.statement is not JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { problem: 'signed.statement must be a JSON object' };
  const s = raw as Record<string, unknown>;
  for (const [field, type] of Object.entries(FIELDS)) {
    if (typeof s[field] !== type) return { problem: `signed.statement.${field} is missing or not a ${type}` };
  }
  if (s.kind !== 'lifeboat.decision' || s.version !== 1)
    return { problem: 'signed.statement is not a lifeboat.decision statement of version 1' };
  if (canonicalJson(raw) !== text)
    return { problem: 'signed.statement is not in canonical form (keys sorted, no spaces): it was altered' };
  for (const t of ['issuedAt', 'expiresAt'] as const)
    if (Number.isNaN(Date.parse(s[t] as string))) return { problem: `signed.statement.${t} is not a time` };
  return { statement: raw as unknown as DecisionStatement };
}

/** Which bound field does not match what the run shows now, in words; undefined when all match. */
export function bindingProblem(s: DecisionStatement, expect: Binding): string | undefined {
  if (s.action !== expect.action) return `the statement signs '${s.action}', not '${expect.action}'`;
  if (s.namespace !== expect.namespace)
    return `the statement is for namespace '${s.namespace}', this run is in '${expect.namespace}'`;
  if (s.workflowId !== expect.workflowId)
    return `the statement is for run '${s.workflowId}', not '${expect.workflowId}' (a statement opens only the run it was signed for)`;
  if (expect.runId !== undefined && s.runId !== expect.runId)
    return `the statement is for run id ${s.runId ?? '(none)'} of '${s.workflowId}', this is run id ${expect.runId}`;
  if (expect.gate !== undefined && s.gate !== expect.gate)
    return `the statement is for gate '${s.gate ?? '(none)'}', the run waits at gate '${expect.gate}'`;
  if (expect.step !== undefined && s.step !== expect.step)
    return `the statement is for step '${s.step ?? '(none)'}', the run waits at step '${expect.step}'`;
  if (s.subjectSha256 !== expect.subjectSha256)
    return `what the ${expect.gate ? 'gate' : 'run'} shows changed since the statement was signed (subject SHA-256 ${s.subjectSha256.slice(0, 12)}…, now ${expect.subjectSha256.slice(0, 12)}…): sign again`;
  return undefined;
}

/** Expiry and lifetime, at time `nowMs`; undefined when the statement is current. */
export function timeProblem(s: DecisionStatement, nowMs: number): string | undefined {
  const issued = Date.parse(s.issuedAt);
  const expires = Date.parse(s.expiresAt);
  if (expires <= issued) return 'the statement expires before it was issued';
  if (expires - issued > MAX_STATEMENT_SECONDS * 1000)
    return `the statement lives longer than ${MAX_STATEMENT_SECONDS / 60} minutes (issued ${s.issuedAt}, expires ${s.expiresAt})`;
  if (issued > nowMs + CLOCK_SKEW_SECONDS * 1000)
    return `the statement was issued in the future (${s.issuedAt}); check the signer's clock`;
  if (expires <= nowMs) return `the statement expired at ${s.expiresAt}: sign again`;
  return undefined;
}

/** The line a person runs to sign a decision (the Temporal UI cannot sign). */
export function signedCliLine(action: 'approve' | 'retry' | 'skip' | 'stop', workflowId: string): string {
  const extra = action === 'stop' ? ' --reason "<why>"' : '';
  return `lifeboat ${action} ${workflowId} --as <you> --key <your private key file>${extra}`;
}
