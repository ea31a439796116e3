import type { Command } from '../command';
import { load } from '../lazy';
import { badInput } from '../runs';

export const command: Command = {
  name: 'store migrate',
  summary:
    "copy a control plane's SQLite stores (audit ledger, catalog) into an empty PostgreSQL database; the chain is verified before and after, hashes unchanged",
  usage:
    '(--from <config> | [--ledger <file>] [--catalog <file>]) --to <postgres url> [--password-env <VAR>]',
  examples: [
    'lifeboat store migrate --from .data/lifeboat.config.json --to postgres://lifeboat@db:5432/lifeboat --password-env LIFEBOAT_DB_PASSWORD',
    'lifeboat store migrate --ledger .data/audit.sqlite --catalog .data/catalog.sqlite --to postgres://lifeboat@db:5432/lifeboat --password-env LIFEBOAT_DB_PASSWORD',
  ],
  options: {
    from: {
      type: 'string',
      value: 'config',
      description: "a control plane's config on SQLite: its auditLedger and catalog are copied",
    },
    ledger: { type: 'string', value: 'file', description: 'the SQLite audit ledger to copy' },
    catalog: { type: 'string', value: 'file', description: 'the SQLite catalog to copy' },
    to: {
      type: 'string',
      value: 'url',
      description: 'the PostgreSQL database (postgres://user@host:port/db)',
    },
    'password-env': {
      type: 'string',
      value: 'VAR',
      description: "the environment variable that holds the database user's password",
    },
  },
  positionals: [],
  server: false,
  async run(ctx) {
    const to = ctx.values.to as string | undefined;
    if (!to) throw badInput('--to <postgres url> is required (postgres://user@host:port/db)');
    const { database } = load.database();
    const parsed = database.safeParse({
      url: to,
      ...(ctx.values['password-env'] ? { passwordEnv: ctx.values['password-env'] } : {}),
    });
    if (!parsed.success)
      throw badInput(
        parsed.error.issues
          .map((i) => `${i.path[0] === 'passwordEnv' ? '--password-env' : '--to'} ${i.message}`)
          .join('; '),
      );
    let from = {
      ledger: ctx.values.ledger as string | undefined,
      catalog: ctx.values.catalog as string | undefined,
    };
    if (ctx.values.from) {
      if (from.ledger || from.catalog)
        throw badInput('give --from <config>, or --ledger and --catalog, not both');
      const { localConfig } = load.localConfig();
      const config = localConfig({ config: ctx.values.from as string });
      if (config.database)
        throw badInput(
          `--from: ${config.source} names a database already; store migrate copies SQLite stores`,
        );
      from = { ledger: config.auditLedger, catalog: config.catalog };
    }
    const { migrateStores } = load.storeMigrate();
    const report = await migrateStores(from, parsed.data, (line) => ctx.err(line));
    if (report.ledger)
      ctx.out(
        `audit ledger: ${report.ledger.rows} rows copied to ${report.to} (with ${report.ledger.keys} signer keys and ${report.ledger.nonces} used nonces); the chain verifies there, head ${report.ledger.head?.slice(0, 16) ?? '(empty)'}`,
      );
    if (report.catalog)
      ctx.out(
        `catalog: ${report.catalog.backups} backups, ${report.catalog.drills} drills, ${report.catalog.forgotten} forgotten agents copied to ${report.to}`,
      );
    ctx.out('set "database" in the control plane\'s config to this database and restart its workers');
    return 0;
  },
};
