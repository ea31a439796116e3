import { CONFIG_OPTION, JSON_OPTION, type Command } from '../command';
import { load } from '../lazy';
import { humanBytes as size } from '../format';

export const command: Command = {
  name: 'backups list',
  summary: 'list backups from the catalog, newest first, with their chain and verification',
  usage: '[--target <name>] [--json] [--config <file>]',
  examples: ['lifeboat backups list --target storage', 'lifeboat backups list --json'],
  options: {
    target: { type: 'string', value: 'name', description: 'only this target' },
    ...JSON_OPTION,
    ...CONFIG_OPTION,
  },
  positionals: [],
  server: false,
  async run(ctx) {
    const { openRecords } = load.localConfig();
    const { records, target, close } = await openRecords(
      ctx.values as { config?: string; target?: string },
      'no backup has been made yet?',
    );
    try {
      const entries = await records.listBackups(target);
      if (ctx.values.json) {
        ctx.out(
          JSON.stringify(
            entries.map((e) => ({
              ...e,
              verifyReport: e.verifyReport ? (JSON.parse(e.verifyReport) as unknown) : null,
            })),
            null,
            2,
          ),
        );
        return 0;
      }
      if (entries.length === 0) {
        ctx.out('no backups');
        return 0;
      }
      for (const e of entries) {
        const verified =
          e.verifyOk === null
            ? 'unverified'
            : e.verifyOk
              ? `verified ${e.verifiedAt}`
              : `FAILED verification ${e.verifiedAt}`;
        ctx.out(
          `${e.backupId}  ${e.kind.padEnd(11)} ${e.createdAt}  ${String(e.files).padStart(6)} files  ${size(e.archiveSize).padStart(10)}  ${verified}`,
        );
        if (e.parent) ctx.out(`    parent ${e.parent}`);
        if (e.offsiteCopy) ctx.out(`    offsite ${e.offsiteCopy}`);
        if (e.origin === 'adopted') ctx.out(`    adopted from ${e.archive}`);
        if (e.signedBy) ctx.out(`    signed by ${e.signedBy}`);
        if (e.heldBy) ctx.out(`    held by agent ${e.heldBy}`);
      }
      return 0;
    } finally {
      await close();
    }
  },
};
