import { LEDGER_OPTIONS, type Command } from '../command';
import { load } from '../lazy';

export const command: Command = {
  name: 'audit verify',
  summary:
    "recompute the audit ledger's hash chain and re-check every signed decision; names the first broken row and exits 1",
  usage: '[--ledger <file> | --config <file>]',
  examples: ['lifeboat audit verify'],
  options: { ...LEDGER_OPTIONS },
  positionals: [],
  server: false,
  async run(ctx) {
    const { openLedger } = load.localConfig();
    const { LEDGER_RECOVERED } = load.selfRestore();
    const { recheckSignedRows } = load.signedRows();
    const { ledger, close } = await openLedger(ctx.values as { ledger?: string; config?: string });
    const file = ledger.where;
    try {
      const result = await ledger.verify();
      if (result.ok) {
        ctx.out(`audit ledger ${file}: chain intact (${result.rows} rows)`);
        // Where history was recovered after a host loss: the chain goes on, the rows in between are gone.
        for (const row of await ledger.rowsOf(LEDGER_RECOVERED)) {
          const d = JSON.parse(row.details) as { recoveredUpTo?: string; backupId?: string };
          ctx.out(
            `  seam at row ${row.seq}: history recovered up to ${d.recoveredUpTo ?? '?'} from backup ${d.backupId ?? '?'} (restored ${row.at} by ${row.actor}); rows written after that on the old host were lost`,
          );
        }
        // Who approved what: every signed decision's signature, checked again with the kept keys.
        const signed = await recheckSignedRows(ledger);
        for (const line of signed.lines) ctx.out(`  ${line}`);
        if (signed.problems.length > 0) {
          for (const p of signed.problems) ctx.err(`  SIGNATURE PROBLEM ${p}`);
          ctx.err(
            `audit ledger ${file}: ${signed.problems.length} of ${signed.checked} signed decisions do not verify`,
          );
          return 1;
        }
        if (signed.checked > 0) ctx.out(`  ${signed.checked} signed decisions verified`);
        return 0;
      }
      ctx.err(`audit ledger ${file}: chain BROKEN at row ${result.brokenSeq}: ${result.problem}`);
      return 1;
    } finally {
      await close();
    }
  },
};
