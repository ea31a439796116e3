import { AuditLedger } from '../../activities/lib/ledger';
import { LEDGER_RECOVERED } from '../../activities/lib/selfRestore';
import type { Command } from '../command';
import { LEDGER_OPTIONS, ledgerPath } from '../local-config';
import { CliError } from '../runs';

export const command: Command = {
  name: 'audit verify',
  summary: "recompute the audit ledger's hash chain; names the first broken row and exits 1",
  usage: '[--ledger <file> | --config <file>]',
  examples: ['lifeboat audit verify'],
  options: { ...LEDGER_OPTIONS },
  positionals: [],
  server: false,
  async run(ctx) {
    const file = ledgerPath(ctx.values as { ledger?: string; config?: string });
    let ledger: AuditLedger;
    try {
      ledger = new AuditLedger(file, { readonly: true });
    } catch (err) {
      throw new CliError((err as Error).message, 1);
    }
    try {
      const result = ledger.verify();
      if (result.ok) {
        ctx.out(`audit ledger ${file}: chain intact (${result.rows} rows)`);
        // Where history was recovered after a host loss: the chain goes on, the rows in between are gone.
        for (const row of ledger.rowsOf(LEDGER_RECOVERED)) {
          const d = JSON.parse(row.details) as { recoveredUpTo?: string; backupId?: string };
          ctx.out(
            `  seam at row ${row.seq}: history recovered up to ${d.recoveredUpTo ?? '?'} from backup ${d.backupId ?? '?'} (restored ${row.at} by ${row.actor}); rows written after that on the old host were lost`,
          );
        }
        return 0;
      }
      ctx.err(`audit ledger ${file}: chain BROKEN at row ${result.brokenSeq}: ${result.problem}`);
      return 1;
    } finally {
      ledger.close();
    }
  },
};
