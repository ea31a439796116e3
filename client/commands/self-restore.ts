import * as os from 'node:os';
import { SELF_TARGET } from '../../common/constants';
import { ACTOR_OPTION, CONFIG_OPTION, JSON_OPTION, KEY_OPTIONS, requireFlag, type Command } from '../command';
import { load } from '../lazy';
import { badInput } from '../runs';

export const command: Command = {
  name: 'self restore',
  summary:
    "bring Lifeboat's audit ledger and catalog back from a lifeboat-self backup folder on a new host, before the control plane starts",
  usage:
    '--from <folder> [--key <private key file> | --passphrase-env <VARIABLE>] [--trusted-key <public key>]… [--backup <id>] [--replace] [--as <name>] [--config <file>]',
  examples: [
    'lifeboat self restore --from /mnt/offsite/lifeboat-self',
    'lifeboat self restore --from .data/demo/offsite/lifeboat-self --replace --as alice',
  ],
  options: {
    from: {
      type: 'string',
      value: 'folder',
      description: 'the lifeboat-self repository or its offsite copy',
    },
    backup: {
      type: 'string',
      value: 'id',
      description: 'restore this backup instead of the newest that verifies',
    },
    replace: {
      type: 'boolean',
      description:
        'replace a ledger or catalog that already holds rows (they are kept beside as <file>.replaced-<time>)',
    },
    ...KEY_OPTIONS,
    ...ACTOR_OPTION,
    ...CONFIG_OPTION,
    ...JSON_OPTION,
  },
  positionals: [],
  server: false,
  async run(ctx) {
    const from = requireFlag(
      ctx,
      'from',
      'the folder holding the lifeboat-self backups (the repository or its offsite copy)',
    );
    const { localConfig } = load.localConfig();
    const { cliErrorOf, keysFromFlags } = load.breakGlass();
    const { selfRestore } = load.selfRestore();
    const { KeyError } = load.crypto();
    const { trustedSigners } = load.sidecar();
    const config = localConfig(ctx.values as { config?: string });
    const self = config.targets[SELF_TARGET];
    let configured;
    try {
      configured = self?.encryption ? await trustedSigners(self.encryption) : [];
    } catch (err) {
      if (err instanceof KeyError)
        throw badInput(`${err.message} (selfBackup.encryption in ${config.source})`);
      throw err;
    }
    if (!self?.encryption && ctx.values.key === undefined && ctx.values['passphrase-env'] === undefined)
      throw badInput(
        `${config.source} has no selfBackup section: give the key with --key <private key file> (or --passphrase-env) and the signing key with --trusted-key`,
      );
    const keys = await keysFromFlags(ctx.values, self?.encryption);
    keys.trusted = [...configured, ...keys.trusted];
    const actor =
      typeof ctx.values.as === 'string' && ctx.values.as.trim()
        ? ctx.values.as.trim()
        : os.userInfo().username;
    let result;
    try {
      result = await selfRestore({
        from,
        stores: { ledger: config.auditLedger, catalog: config.catalog },
        keys,
        replace: ctx.values.replace === true,
        actor,
        backupId: typeof ctx.values.backup === 'string' ? ctx.values.backup : undefined,
      });
    } catch (err) {
      throw cliErrorOf(err);
    }
    if (ctx.values.json) {
      ctx.out(JSON.stringify(result, null, 2));
      return 0;
    }
    ctx.out(
      `restored Lifeboat's own stores from backup ${result.backupId} (taken ${result.createdAt}) in ${result.from}:`,
    );
    ctx.out(
      `  audit ledger ${result.ledger.file}: ${result.ledger.rows} rows, the last at ${result.ledger.headAt ?? '(none)'}`,
    );
    ctx.out(
      `  catalog ${result.catalog.file}: ${result.catalog.backups} backups, ${result.catalog.drills} drills`,
    );
    ctx.out(
      `  row ${result.seam.seq} (ledger.recovered) continues the chain: history is recovered up to ${result.seam.recoveredUpTo}; what was written after that was lost with the old host`,
    );
    for (const s of result.skipped) ctx.out(`  passed over ${s.backupId}: ${s.reason}`);
    for (const f of result.keptAside) ctx.out(`  kept aside: ${f}`);
    if (result.setAside.ledgerRows || result.setAside.catalogRows)
      ctx.out(
        `  set aside: ${result.setAside.ledgerRows} ledger row(s) and ${result.setAside.catalogRows} catalog row(s) of this host are no longer in the chain (they stay in the kept-aside files)`,
      );
    ctx.out(
      "Next: start the control plane, then run 'lifeboat schedule preset <target>' again for each target (Temporal's schedules are not part of this backup).",
    );
    return 0;
  },
};
