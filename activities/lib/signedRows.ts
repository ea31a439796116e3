/**
 * Re-checks every signed decision in the audit ledger (`lifeboat audit verify`): each statement's
 * signature against the signer's key kept in the ledger (so it still verifies after the key was
 * retired or removed from the config), the key's fingerprint against the one the row names, and
 * the statement's identity against the row's actor. Rows are hash-chained, so the statement,
 * signature and fingerprint cannot be changed without breaking the chain.
 */
import * as openpgp from 'openpgp';
import type { SignedDecision } from '../../common/statements';
import type { LedgerStore } from './stores';
import { verifyDetached } from './signing';

export interface SignedRowsReport {
  checked: number;
  /** One line per signed decision: row, event, who, key. */
  lines: string[];
  problems: string[];
}

interface StoredSigned extends SignedDecision {
  key: string;
  verdict: string;
}

/** Re-checks a stored signed decision against a kept armored key; undefined when it verifies. */
export async function recheckStored(
  signed: SignedDecision,
  armoredKey: string,
  fingerprint: string,
): Promise<string | undefined> {
  const key = await openpgp.readKey({ armoredKey }).catch(() => undefined);
  if (!key) return `the kept key ${fingerprint} is not a readable public key`;
  const actual = key.getFingerprint().toUpperCase();
  if (actual !== fingerprint) return `the kept key is ${actual}, not ${fingerprint}: it was replaced`;
  try {
    const check = await verifyDetached(new TextEncoder().encode(signed.statement), signed.signature, [
      { key: key as openpgp.PublicKey, fingerprint, file: 'ledger' },
    ]);
    return check.verdict === 'good' ? undefined : `the signature does not verify with key ${fingerprint}`;
  } catch (err) {
    return `the stored signature ${(err as Error).message}`;
  }
}

export async function recheckSignedRows(ledger: LedgerStore): Promise<SignedRowsReport> {
  const report: SignedRowsReport = { checked: 0, lines: [], problems: [] };
  for (const row of await ledger.signedRows()) {
    const signed = (JSON.parse(row.details) as { signed?: StoredSigned }).signed;
    if (!signed || signed.verdict !== 'valid') continue; // refused statements are kept as evidence only
    report.checked += 1;
    const where = `row ${row.seq} (${row.event} by ${row.actor})`;
    const kept = await ledger.signerKey(signed.key);
    let problem: string | undefined = kept
      ? await recheckStored(signed, kept.armored, signed.key)
      : `the signer's key ${signed.key} is not kept in the ledger`;
    if (!problem) {
      const identity = (JSON.parse(signed.statement) as { identity?: string }).identity;
      if (identity !== row.actor)
        problem = `the statement is signed as '${identity}', the row says '${row.actor}'`;
    }
    if (problem) report.problems.push(`${where}: ${problem}`);
    else report.lines.push(`${where}: signature by key ${signed.key} verifies`);
  }
  return report;
}
