/**
 * Verifies a signed decision before the run counts it: the statement is well-formed and binds this
 * run, this gate (or step) and what it shows now; it is current; its signature is valid and made by
 * an active key of the identity that claims it; that identity may decide here; its nonce was never
 * used. The verdict is returned, never thrown: a refusal is the run's to record. The signer's public
 * key is kept in the ledger so `lifeboat audit verify` can re-check the signature later
 * (activities/lib/signedRows.ts).
 */
import { activityInfo } from '@temporalio/activity';
import {
  bindingProblem,
  parseStatement,
  timeProblem,
  type Binding,
  type SignedDecision,
} from '../common/statements';
import type { LifeboatConfig } from '../config';
import { loadIdentityKeys, type IdentityKeys } from './lib/identityKeys';
import type { LedgerStore } from './lib/stores';
import { SignatureFormatError, verifyDetached } from './lib/signing';

export interface VerifyDecisionInput {
  signed: SignedDecision;
  /** The name the decision was sent under (`--as`): it must be the statement's identity. */
  actor: string;
  expect: Binding;
  /** Identities that may take this decision here; `*` for any configured identity. */
  allowed: string[];
}

export type DecisionVerdict =
  { ok: true; identity: string; key: string; nonce: string } | { ok: false; refusal: string };

/** Checks a signed decision against the keys; `now` and the nonce claim come from the caller. */
export async function verifySignedDecision(
  input: VerifyDecisionInput,
  identities: IdentityKeys[],
  claim: {
    nowMs: number;
    claimNonce: (nonce: string) => boolean | Promise<boolean>;
    keep: (k: KeptKey) => void | Promise<void>;
  },
): Promise<DecisionVerdict> {
  const refuse = (refusal: string): DecisionVerdict => ({ ok: false, refusal });
  const parsed = parseStatement(input.signed?.statement);
  if ('problem' in parsed) return refuse(parsed.problem);
  const s = parsed.statement;
  if (s.identity !== input.actor)
    return refuse(`the statement is signed as '${s.identity}' but the decision was sent as '${input.actor}'`);
  const binding = bindingProblem(s, input.expect);
  if (binding) return refuse(binding);
  const time = timeProblem(s, claim.nowMs);
  if (time) return refuse(time);
  const who = identities.find((i) => i.identity === s.identity);
  if (!who) return refuse(`'${s.identity}' is not an identity in the control plane's config`);
  if (!input.allowed.includes('*') && !input.allowed.includes(s.identity))
    return refuse(`'${s.identity}' may not ${s.action} here; allowed: ${input.allowed.join(', ')}`);
  let check;
  try {
    const all = identities.flatMap((i) => [...i.active, ...i.retired]);
    check = await verifyDetached(
      new TextEncoder().encode(input.signed.statement),
      input.signed.signature,
      all,
    );
  } catch (err) {
    if (err instanceof SignatureFormatError) return refuse(`signed.signature ${err.message}`);
    throw err;
  }
  if (check.verdict === 'unknownKey')
    return refuse(
      `the signature was made by key ${check.issuer}, which belongs to no identity in the config`,
    );
  if (check.verdict === 'bad')
    return refuse(
      `the signature by key ${check.key.fingerprint} does not verify over the statement: it was altered or signed over other text`,
    );
  const fp = check.key.fingerprint;
  const owner = identities.find((i) => [...i.active, ...i.retired].some((k) => k.fingerprint === fp));
  if (owner?.identity !== s.identity)
    return refuse(`the statement claims '${s.identity}' but is signed by key ${fp} of '${owner?.identity}'`);
  if (!who.active.some((k) => k.fingerprint === fp))
    return refuse(`key ${fp} of '${s.identity}' is retired: sign with a current key`);
  if (!(await claim.claimNonce(s.nonce)))
    return refuse(
      `this statement was already used (nonce ${s.nonce}): each signature counts once; sign again`,
    );
  await claim.keep({ fingerprint: fp, identity: s.identity, armored: check.key.key.armor() });
  return { ok: true, identity: s.identity, key: fp, nonce: s.nonce };
}

export interface KeptKey {
  fingerprint: string;
  identity: string;
  armored: string;
}

export function createApprovalActivities(config: LifeboatConfig, ledger: LedgerStore) {
  let keys: Promise<IdentityKeys[]> | undefined;
  return {
    /** Verifies a signed decision for the run (see the head comment); never throws on a bad statement. */
    async verifyDecision(input: VerifyDecisionInput): Promise<DecisionVerdict> {
      keys ??= loadIdentityKeys(config.identities);
      const info = activityInfo();
      // The holder is this activity: a retry of the same verification finds its own claim.
      const run = info.workflowExecution;
      const holder = `${run?.workflowId ?? ''}/${run?.runId ?? ''}/${info.activityId}`;
      const at = new Date().toISOString();
      return verifySignedDecision(input, await keys, {
        nowMs: Date.now(),
        claimNonce: (nonce) => ledger.claimNonce(nonce, holder, at),
        keep: (k) => ledger.keepSignerKey(k.fingerprint, k.identity, k.armored, at),
      });
    },
  };
}
