/**
 * A panic-recovery target on disk in the layout of procedure 004 (`npm run up`'s demo and the
 * tests): a panic flag, a SQLite federation ledger (corrupt by default) with timestamped backups,
 * a week of daily proof files whose Merkle roots form a chain, and a small service script that the
 * target's `stop`, `start` and `rebuildNonceStore` commands run (without a shell). Each command
 * appends its name to `services.log`; `rebuildNonceStore` also rebuilds `data/nonce_store.json`
 * from the ledger, as the procedure's script would.
 *
 *     <dir>/data/ATLAS_PANIC                 the panic flag
 *     <dir>/data/federation_ledger.db        the ledger
 *     <dir>/backup/data/federation_ledger_YYYYMMDD_HHMMSS.db
 *     <dir>/proof/YYYY-MM-DD.json            the proof chain (activities/lib/proofs.ts)
 *     <dir>/recovery-proofs/                 where recovery proofs go
 *     <dir>/service.js, <dir>/services.log
 *
 * `writeRuntimeDemo` writes the same layout as a storage root (fullSystemRestore, proofRestore);
 * `runtimeDrillCommands` are the stop and start a drill of it runs on its sandbox.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildProofChain, leafOf, proofFileText } from '../activities/lib/proofs';

export type LedgerState = 'intact' | 'corrupt' | 'missing';
export type LedgerBackupState = 'valid' | 'corrupt' | 'not-sqlite';

export interface PanicDemoOptions {
  /** The live ledger (default corrupt). */
  ledger?: LedgerState;
  /** Backups, oldest first (default: valid, valid, corrupt — the newest one is damaged). */
  backups?: LedgerBackupState[];
  /** The flag's content; `null` writes no flag (default: a reason line). */
  flag?: string | null;
  /** Daily proof files (default 7). */
  proofDays?: number;
  /**
   * The health endpoint. The demo's "runtime" is not a real service: point it at something that
   * answers on this machine, such as the Temporal Web UI (the default).
   */
  healthUrl?: string;
}

/** Where writePanicDemo puts each file. */
export function panicDemoPaths(dir: string) {
  const data = path.join(dir, 'data');
  return {
    flag: path.join(data, 'ATLAS_PANIC'),
    ledger: path.join(data, 'federation_ledger.db'),
    nonceStore: path.join(data, 'nonce_store.json'),
    ledgerBackups: path.join(dir, 'backup', 'data'),
    proofs: path.join(dir, 'proof'),
    recoveryProofs: path.join(dir, 'recovery-proofs'),
    script: path.join(dir, 'service.js'),
    log: path.join(dir, 'services.log'),
  };
}

/** The service script: `node service.js <stop|start|rebuildNonceStore|rebuildReceiptIndex> <demo dir>`. */
function serviceScript(): string {
  const sqlite = require.resolve('better-sqlite3');
  return `// The demo's stand-in for the runtime's scripts (procedure 004): run by Lifeboat without a shell.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const [action, dir] = process.argv.slice(2);
const log = path.join(dir, 'services.log');
if (action === 'rebuildNonceStore') {
  const Database = require(${JSON.stringify(sqlite)});
  const db = new Database(path.join(dir, 'data', 'federation_ledger.db'), { fileMustExist: true });
  const nonces = db.prepare('SELECT nonce FROM entries ORDER BY id').all().map((r) => r.nonce);
  db.close();
  const store = path.join(dir, 'data', 'nonce_store.json');
  fs.writeFileSync(store + '.tmp', JSON.stringify({ nonces }) + '\\n');
  fs.renameSync(store + '.tmp', store);
  console.log('nonce store rebuilt: ' + nonces.length + ' nonces');
} else if (action === 'rebuildReceiptIndex') {
  const days = fs.readdirSync(path.join(dir, 'proof')).filter((n) => /^\\d{4}-\\d{2}-\\d{2}\\.json$/.test(n)).sort();
  const index = path.join(dir, 'data', 'receipt_index.json');
  fs.writeFileSync(index + '.tmp', JSON.stringify({ days }) + '\\n');
  fs.renameSync(index + '.tmp', index);
  console.log('receipt index rebuilt: ' + days.length + ' days');
} else if (action !== 'stop' && action !== 'start') {
  console.error('unknown action ' + action);
  process.exit(2);
}
fs.appendFileSync(log, action + '\\n');
console.log('federation-sync ' + action + ' ok');
`;
}

/** A ledger with `rows` entries (WAL mode, as the runtime keeps it). */
function writeLedger(file: string, rows: number): void {
  fs.rmSync(file, { force: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE entries (id INTEGER PRIMARY KEY, batch TEXT NOT NULL, nonce TEXT NOT NULL UNIQUE, payload_sha256 TEXT NOT NULL)',
  );
  const insert = db.prepare('INSERT INTO entries (batch, nonce, payload_sha256) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= rows; i += 1)
      insert.run(
        `batch-${Math.ceil(i / 10)}`,
        `nonce-${i.toString(16).padStart(8, '0')}`,
        leafOf(`payload ${i}`),
      );
  })();
  db.close();
}

/** Scribbles over a b-tree page: the file still opens, `PRAGMA integrity_check` fails. */
function corruptDatabase(file: string): void {
  const bytes = fs.readFileSync(file);
  const pageSize = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
  bytes.fill(0x41, pageSize * 2 + 10, pageSize * 2 + 400);
  fs.writeFileSync(file, bytes);
}

function stamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}_${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
}

/** Writes the daily proof files for `days` days ending yesterday (UTC) and returns their names. */
export function writeProofChain(folder: string, days: number, now = new Date()): string[] {
  fs.mkdirSync(folder, { recursive: true });
  const dates = Array.from({ length: days }, (_, i) => {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - days + i));
    return d.toISOString().slice(0, 10);
  });
  const chain = buildProofChain(
    // 1 to 5 proofs a day: odd and even levels both occur.
    dates.map((date, i) => ({
      date,
      leaves: Array.from({ length: (i % 5) + 1 }, (_, k) => leafOf(`proof ${date} #${k}`)),
    })),
  );
  for (const day of chain) fs.writeFileSync(path.join(folder, `${day.date}.json`), proofFileText(day));
  return chain.map((d) => `${d.date}.json`);
}

/**
 * Writes the demo under `dir` and returns the target's config (absolute paths): the `panic` and
 * `health` sections, the three commands, and the objectives of procedure 004.
 */
export function writePanicDemo(dir: string, options: PanicDemoOptions = {}): Record<string, unknown> {
  const p = panicDemoPaths(dir);
  fs.mkdirSync(path.dirname(p.ledger), { recursive: true });
  fs.mkdirSync(p.ledgerBackups, { recursive: true });
  fs.writeFileSync(p.script, serviceScript());

  const flag =
    options.flag === undefined ? 'panic: ledger write failed at batch 21 (SQLITE_CORRUPT)\n' : options.flag;
  if (flag !== null) fs.writeFileSync(p.flag, flag);

  const backups = options.backups ?? ['valid', 'valid', 'corrupt'];
  const now = Date.now();
  backups.forEach((state, i) => {
    // Daily backups, the newest an hour ago.
    const takenAt = new Date(now - (backups.length - i - 1) * 86_400_000 - 3_600_000);
    const file = path.join(p.ledgerBackups, `federation_ledger_${stamp(takenAt)}.db`);
    if (state === 'not-sqlite') fs.writeFileSync(file, 'this is not a database\n');
    else {
      writeLedger(file, 100 + i * 20);
      if (state === 'corrupt') corruptDatabase(file);
    }
    fs.utimesSync(file, takenAt, takenAt);
  });

  const ledgerState = options.ledger ?? 'corrupt';
  if (ledgerState !== 'missing') {
    writeLedger(p.ledger, 100 + backups.length * 20 + 15);
    if (ledgerState === 'corrupt') corruptDatabase(p.ledger);
  }
  writeProofChain(p.proofs, options.proofDays ?? 7);

  const command = (action: string) => ({
    argv: [process.execPath, p.script, action, dir],
    timeoutSeconds: 30,
  });
  return {
    description: 'Demo factory runtime (procedure 004) in panic mode with a corrupt ledger',
    panic: {
      flag: p.flag,
      ledger: p.ledger,
      ledgerBackups: p.ledgerBackups,
      proofs: p.proofs,
      recoveryProofs: p.recoveryProofs,
    },
    health: {
      url: options.healthUrl ?? 'http://127.0.0.1:8233/',
      attempts: 5,
      intervalSeconds: 2,
      timeoutSeconds: 5,
    },
    commands: {
      stop: command('stop'),
      start: command('start'),
      rebuildNonceStore: command('rebuildNonceStore'),
      rebuildReceiptIndex: command('rebuildReceiptIndex'),
    },
    objectives: { rtoMinutes: 30, rpoMinutes: 60 },
  };
}

/**
 * The factory runtime as a storage root (procedure 004, Restore 1 and 2): the panic demo's layout,
 * not in panic, with its folder as the root and a repository beside it, for fullSystemRestore and
 * proofRestore.
 */
export function writeRuntimeDemo(
  dir: string,
  options: { encryption: Record<string, unknown>; healthUrl?: string },
): Record<string, unknown> {
  // No damaged ledger backup: a backup of the root checks every database it holds.
  const target = writePanicDemo(dir, {
    flag: null,
    ledger: 'intact',
    backups: ['valid', 'valid'],
    healthUrl: options.healthUrl,
  });
  return {
    ...target,
    description: 'Demo factory runtime (procedure 004) as a whole: backed up, restored, proofs restored',
    root: dir,
    repository: `${dir}-backups`,
    encryption: options.encryption,
  };
}

/**
 * The commands a drill of `writeRuntimeDemo(dir)`'s target runs instead of the target's own (the
 * fullSystemRestore drill): the same service script, its `stop` and `start` logged to
 * `{sandbox}/services.log` — beside the sandbox's copy of the root, which the drill loses and the
 * restore brings back exactly as backed up — so nothing of production is written.
 */
export function runtimeDrillCommands(
  dir: string,
): Record<string, { argv: string[]; timeoutSeconds: number }> {
  const script = panicDemoPaths(path.resolve(dir)).script;
  const command = (action: string) => ({
    argv: [process.execPath, script, action, '{sandbox}'],
    timeoutSeconds: 30,
  });
  return { stop: command('stop'), start: command('start') };
}
