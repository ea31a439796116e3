/**
 * A real PostgreSQL for the tests (Debian's PostgreSQL 15): a cluster made by `initdb` in a temp
 * folder, run by `pg_ctl` as an unprivileged user (`nobody` when the tests run as root: PostgreSQL
 * refuses root), listening on 127.0.0.1 on a free port, password authentication (scram) on TCP. A
 * `lifeboat` role and database are made for the stores; the superuser is there to misbehave.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { tempDir } from './helpers';
import { freePort } from './ports';

export interface TestPostgres {
  port: number;
  /** postgres://lifeboat@127.0.0.1:<port>/<db> (no password: it is in `password`). */
  url: (db?: string) => string;
  password: string;
  /** The superuser's (`postgres`) password. */
  superPassword: string;
  /** Runs SQL as the superuser (`postgres`) in `db`. */
  superuser: (sql: string, db?: string) => Promise<void>;
  /** Makes another database owned by `lifeboat`. */
  createDatabase: (name: string) => Promise<void>;
  stop: () => void;
  start: () => void;
}

/** Where Debian keeps the server's programs (setup puts them on PATH too). */
export function pgProgram(program: string): string {
  return pgBin(program);
}

function pgBin(program: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (fs.existsSync(path.join(dir, program))) return path.join(dir, program);
  }
  const lib = '/usr/lib/postgresql';
  const versions = fs.existsSync(lib) ? fs.readdirSync(lib).sort().reverse() : [];
  for (const v of versions) {
    const candidate = path.join(lib, v, 'bin', program);
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`${program} (PostgreSQL) not found: run the setup (npm run setup), which installs it`);
}

/** `fsync`: on for measurements (the default off makes tests fast; durability is not what they test). */
export async function startPostgres(name: string, settings: { fsync?: boolean } = {}): Promise<TestPostgres> {
  const dir = tempDir(`pg-${name}`);
  const data = path.join(dir, 'data');
  const superPassword = `super-${Math.random().toString(36).slice(2)}`;
  const password = `lifeboat-${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(path.join(dir, 'pw'), superPassword, { mode: 0o600 });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['-R', 'nobody', dir]);
  const run = (program: string, args: string[]) =>
    execFileSync(
      asRoot ? 'runuser' : pgBin(program),
      asRoot ? ['-u', 'nobody', '--', pgBin(program), ...args] : args,
      {
        stdio: 'pipe',
        cwd: dir,
      },
    );
  run('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=scram-sha-256',
    `--pwfile=${path.join(dir, 'pw')}`,
    '-E',
    'UTF8',
  ]);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=${settings.fsync ? 'on' : 'off'}`;
  const start = () => run('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', 'start']);
  const stop = () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
  start();
  const superuser = async (sql: string, db = 'postgres') => {
    const client = new Client({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password: superPassword,
      database: db,
    });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await superuser(`CREATE ROLE lifeboat LOGIN PASSWORD '${password}'`);
  await superuser('CREATE DATABASE lifeboat OWNER lifeboat');
  return {
    port,
    password,
    superPassword,
    url: (db = 'lifeboat') => `postgres://lifeboat@127.0.0.1:${port}/${db}`,
    superuser,
    createDatabase: (db) => superuser(`CREATE DATABASE ${db} OWNER lifeboat`),
    stop,
    start,
  };
}
