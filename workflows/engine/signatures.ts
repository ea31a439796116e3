/**
 * Which decisions of a run must be signed, what the run publishes to sign, and the checks a signed
 * decision goes through before it counts: at once (its statement binds this run, this gate or step,
 * and what it shows now; it is signed as the name it is sent under; the requester does not approve
 * their own run), then in the `verifyDecision` activity (the signature, the key, the expiry, the
 * nonce), then once more on the run's state as it is when the verdict comes back.
 *
 * A gate is signed when its policy says `signed`; in a run whose target has a signed gate, retry and
 * skip are signed too; stop only where the target says `signedStop`.
 */
import * as wf from '@temporalio/workflow';
import type { Activities } from '../../activities';
import {
  bindingProblem,
  failureSubject,
  gateSubject,
  parseStatement,
  runSubject,
  sha256Hex,
  signedCliLine,
  startSubject,
  type Binding,
  type SignedDecision,
} from '../../common/statements';
import type { DecisionAction, GatePlan, RunStatus, SigningRequest, TargetView } from '../../common/types';

export type Verdict = { ok: true; identity: string; key: string } | { ok: false; refusal: string };

/** A signed decision as the ledger keeps it: the statement, its signature and the key that made it. */
export interface SignedRecord {
  statement: string;
  signature: string;
  key: string;
  verdict: 'valid';
}

const verifier = wf.proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});

export class SignatureRules {
  constructor(
    private readonly status: RunStatus,
    private readonly target: () => TargetView | undefined,
    private readonly info = wf.workflowInfo(),
  ) {}

  private get anySignedGate(): boolean {
    return Object.values(this.target()?.gates ?? {}).some((g) => g.signed === true);
  }

  /** Whether `action` must be signed now, given what the run waits for. */
  required(action: DecisionAction): boolean {
    if (action === 'stop') return this.target()?.signedStop === true;
    const waiting = this.status.waiting;
    if (action === 'approve') return waiting?.kind === 'gate' && waiting.signing !== undefined;
    return this.anySignedGate;
  }

  /** What a signed gate publishes: the subject (reason and plan) and how to sign it. */
  forGate(
    gate: string,
    reason: string,
    plan: GatePlan | undefined,
    signed: boolean,
  ): SigningRequest | undefined {
    if (!signed) return undefined;
    const subject = gateSubject({
      ...this.ids(),
      runbook: this.status.runbook,
      target: this.status.target,
      gate,
      reason,
      facts: plan ? { plan } : {},
    });
    return this.request(subject, ['approve', ...(this.required('stop') ? (['stop'] as const) : [])]);
  }

  /** What a failed step or hold publishes where retry and skip must be signed. */
  forFailure(step: string, reason: string, allowed: DecisionAction[]): SigningRequest | undefined {
    if (!this.anySignedGate) return undefined;
    const subject = failureSubject({
      ...this.ids(),
      runbook: this.status.runbook,
      target: this.status.target,
      step,
      reason,
    });
    const actions = allowed.filter((a) => a !== 'stop' || this.required('stop')) as SigningRequest['actions'];
    return this.request(subject, actions);
  }

  private request(subject: string, actions: SigningRequest['actions']): SigningRequest {
    const first = actions[0] ?? 'approve';
    return {
      subject,
      subjectSha256: sha256Hex(subject),
      actions,
      cli: signedCliLine(first, this.info.workflowId),
    };
  }

  private ids() {
    return { namespace: this.info.namespace, workflowId: this.info.workflowId, runId: this.info.runId };
  }

  /** What the statement must bind for `action` now. */
  binding(action: DecisionAction): Binding {
    const waiting = this.status.waiting;
    if (action === 'stop') return { action, ...this.ids(), subjectSha256: sha256Hex(runSubject(this.ids())) };
    return {
      action,
      ...this.ids(),
      ...(action === 'approve' ? { gate: waiting?.gate } : { step: waiting?.step }),
      subjectSha256: waiting?.signing?.subjectSha256 ?? '',
    };
  }

  /**
   * The checks a signed decision passes at once; undefined when it may go on to be verified (or
   * needs no signature). The message says how to sign, because the UI's form cannot.
   */
  precheck(action: DecisionAction, args: { actor?: unknown; signed?: SignedDecision }): string | undefined {
    if (!this.required(action)) return undefined;
    const where =
      action === 'approve'
        ? `gate '${this.status.waiting?.gate}' requires a signed approval`
        : action === 'stop'
          ? `target '${this.status.target}' requires a signed stop`
          : `target '${this.status.target}' has a signed gate, so ${action} must be signed too`;
    if (!args.signed || typeof args.signed !== 'object')
      return `${where}: the Temporal UI and \`temporal workflow signal\` cannot sign; run \`${signedCliLine(action === 'approve' ? 'approve' : action, this.info.workflowId)}\``;
    const parsed = parseStatement(args.signed.statement);
    if ('problem' in parsed) return `${where}: ${parsed.problem}`;
    const s = parsed.statement;
    if (s.identity !== String(args.actor).trim())
      return `the statement is signed as '${s.identity}' but the decision was sent as '${String(args.actor)}'`;
    const bound = bindingProblem(s, this.binding(action));
    if (bound) return bound;
    return this.requesterProblem(action, s.identity);
  }

  /** notRequester: who asked for the run does not approve it. */
  requesterProblem(action: DecisionAction, identity: string): string | undefined {
    const waiting = this.status.waiting;
    if (action !== 'approve' || !waiting?.requester || waiting.requester !== identity) return undefined;
    return `'${identity}' requested this run and gate '${waiting.gate}' needs an approver other than the requester (notRequester)`;
  }

  /** Verifies a signed start (`input.requester`) against the run as it was started. */
  async verifyStart(actor: string, signed: SignedDecision, input: Record<string, unknown>): Promise<Verdict> {
    if (!signed || typeof signed !== 'object' || typeof signed.signature !== 'string')
      return {
        ok: false,
        refusal: 'it must be {"statement": "...", "signature": "..."} as lifeboat start --key makes it',
      };
    const subject = startSubject({
      namespace: this.info.namespace,
      workflowId: this.info.workflowId,
      runbook: this.status.runbook,
      target: this.status.target,
      input,
    });
    const expect: Binding = {
      action: 'start',
      namespace: this.info.namespace,
      workflowId: this.info.workflowId,
      subjectSha256: sha256Hex(subject),
    };
    const verdict = await verifier.verifyDecision.executeWithOptions(
      { summary: `verify the signed start by ${actor}` },
      [{ signed, actor, expect, allowed: ['*'] }],
    );
    return verdict.ok ? { ok: true, identity: verdict.identity, key: verdict.key } : verdict;
  }

  /** Runs the verifying activity; the caller re-checks the run's state with the verdict. */
  async verify(action: DecisionAction, actor: string, signed: SignedDecision): Promise<Verdict> {
    const waiting = this.status.waiting;
    const allowed = action === 'approve' ? (waiting?.approvers ?? ['*']) : ['*'];
    const verdict = await verifier.verifyDecision.executeWithOptions(
      { summary: `verify the signed ${action} of ${actor}` },
      [{ signed, actor, expect: this.binding(action), allowed }],
    );
    return verdict.ok ? { ok: true, identity: verdict.identity, key: verdict.key } : verdict;
  }
}
