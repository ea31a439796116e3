/**
 * Builds targets for the `migration` runbook (procedure 003 §11): a storage root with SQLite
 * databases (storage-root.ts), its repository, and a stand-in schema migration run without a shell:
 * `node migrate.js migrate <dir>` moves the root to schema 2 (a new table in `core.db`, a
 * `schema-version` file, a rewritten project file), and `node migrate.js verify <dir>` checks that.
 * Marker files in `<dir>` make it misbehave the ways a real migration does:
 *
 *     <dir>/FAIL         migrate changes half of what it should, then exits 3
 *     <dir>/HANG         migrate never returns (its command's timeout ends it)
 *     <dir>/VERIFY-FAIL  verify exits 1
 *
 * `writeMigrationDemo` is the demo target for `npm run up` (with FAIL, so the demo shows the
 * rollback; remove the file to see a migration pass); tests use `writeMigrationFixture`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeStorageRoot } from './storage-root';

function migrateScript(): string {
  return `// Stand-in schema migration (Lifeboat demo): node migrate.js migrate|verify <dir>
const fs = require('node:fs');
const path = require('node:path');
const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
const [action, dir] = process.argv.slice(2);
const root = path.join(dir, 'root');
const marker = (name) => fs.existsSync(path.join(dir, name));
if (action === 'migrate') {
  if (marker('HANG')) setInterval(() => {}, 1000);
  else {
    const db = new Database(path.join(root, 'core.db'));
    db.exec('CREATE TABLE IF NOT EXISTS schema_v2 (id INTEGER PRIMARY KEY, note TEXT)');
    db.prepare('INSERT INTO schema_v2 (note) VALUES (?)').run('migrated');
    db.close();
    if (marker('FAIL')) {
      console.error('migration step 2 of 3 failed: projects/p0 cannot be converted');
      process.exit(3);
    }
    fs.writeFileSync(path.join(root, 'schema-version'), '2\\n');
    console.log('migrated to schema 2');
  }
} else if (action === 'verify') {
  const version = fs.existsSync(path.join(root, 'schema-version')) ? fs.readFileSync(path.join(root, 'schema-version'), 'utf8').trim() : 'none';
  if (marker('VERIFY-FAIL') || version !== '2') {
    console.error('verify: schema ' + version + ', expected 2; row counts do not match');
    process.exit(1);
  }
  console.log('verify: schema 2, all checks pass');
} else {
  console.error('usage: node migrate.js migrate|verify <dir>');
  process.exit(2);
}
`;
}

export interface MigrationFixture {
  target: Record<string, unknown>;
  dir: string;
  root: string;
  repository: string;
}

/** A migration target in `dir`: root `<dir>/root`, repository `<dir>/backups`, the stand-in commands. */
export function writeMigrationFixture(
  dir: string,
  options: {
    markers?: ('FAIL' | 'HANG' | 'VERIFY-FAIL')[];
    encryption: Record<string, unknown>;
    timeoutSeconds?: number;
    seed?: number;
  },
): MigrationFixture {
  const root = path.join(dir, 'root');
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(root)) writeStorageRoot(root, { seed: options.seed ?? 7 });
  const script = path.join(dir, 'migrate.js');
  fs.writeFileSync(script, migrateScript());
  for (const m of options.markers ?? []) fs.writeFileSync(path.join(dir, m), '');
  const command = (action: string) => ({
    argv: [process.execPath, script, action, dir],
    timeoutSeconds: options.timeoutSeconds ?? 300,
  });
  const repository = path.join(dir, 'backups');
  return {
    target: {
      description: 'A storage root about to be migrated to schema 2 (procedure 003 §11)',
      root,
      repository,
      encryption: options.encryption,
      commands: { migrate: command('migrate'), verify: command('verify') },
    },
    dir,
    root,
    repository,
  };
}

/** The `npm run up` demo: its migration fails half-way, so the run shows the rollback. */
export function writeMigrationDemo(
  dir: string,
  encryption: Record<string, unknown>,
): Record<string, unknown> {
  return writeMigrationFixture(dir, { markers: ['FAIL'], encryption }).target;
}
