import { JSON_OPTION, LEDGER_OPTIONS, type Command } from '../command';
import { load } from '../lazy';

export const command: Command = {
  name: 'audit show',
  summary: "show a run's audit events from the ledger, in order",
  usage: '<workflowId> [--ledger <file> | --config <file>] [--json]',
  examples: ['lifeboat audit show incident-42'],
  options: { ...LEDGER_OPTIONS, ...JSON_OPTION },
  positionals: ['workflowId'],
  server: false,
  async run(ctx) {
    const { openLedger } = load.localConfig();
    const { ledger, close } = await openLedger(ctx.values as { ledger?: string; config?: string });
    const file = ledger.where;
    try {
      const rows = await ledger.forWorkflow(ctx.positionals[0]);
      if (ctx.values.json) {
        ctx.out(
          JSON.stringify(
            rows.map((r) => ({ ...r, details: JSON.parse(r.details) as unknown })),
            null,
            2,
          ),
        );
      } else if (rows.length === 0) {
        ctx.out(`no audit events for '${ctx.positionals[0]}' in ${file}`);
      } else {
        for (const r of rows) {
          const details = r.details === '{}' ? '' : ` ${r.details}`;
          ctx.out(
            `#${r.seq} ${r.at} ${r.actor.padEnd(10)} ${r.event}${r.step ? ` [${r.step}]` : ''}${details}`,
          );
        }
      }
      return 0;
    } finally {
      await close();
    }
  },
};
