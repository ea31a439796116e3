/**
 * Generates a storage root like procedure 003's: SQLite databases (core, per project, a module),
 * JSON and text files, binaries, nested folders, modes and mtimes. Deterministic for a seed, so
 * tests and benchmarks get the same data every run.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A small deterministic byte generator (xorshift), so data is reproducible without storing it. */
export function pseudoRandom(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i <= length - 4 ? i : length - 4);
  }
  return out;
}

export function writeDatabase(file: string, rows: number, seed: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, body TEXT NOT NULL)',
  );
  const insert = db.prepare('INSERT INTO items (name, body) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i += 1) insert.run(`item-${seed}-${i}`, `body ${i} `.repeat(8));
  })();
  db.close();
}

export interface RootOptions {
  projects?: number;
  filesPerProject?: number;
  binaryBytes?: number;
  seed?: number;
}

/** Writes a storage root under `root` and returns nothing; see `treeState` to capture it. */
export function writeStorageRoot(root: string, options: RootOptions = {}): void {
  const { projects = 2, filesPerProject = 5, binaryBytes = 256 * 1024, seed = 1 } = options;
  fs.mkdirSync(root, { recursive: true });
  writeDatabase(path.join(root, 'core.db'), 200, seed);
  fs.mkdirSync(path.join(root, 'config'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'config', 'server-defaults.json'),
    JSON.stringify({ seed, theme: 'dark', limits: { upload: 10 } }, null, 2),
  );
  fs.chmodSync(path.join(root, 'config', 'server-defaults.json'), 0o600);
  for (let p = 0; p < projects; p += 1) {
    const dir = path.join(root, 'projects', `p${p}`);
    writeDatabase(path.join(dir, 'project.db'), 100 + p, seed + p);
    for (let f = 0; f < filesPerProject; f += 1) {
      fs.mkdirSync(path.join(dir, 'notes'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'notes', `n${f}.md`), `# note ${f}\n${'text '.repeat(100 + f)}\n`);
    }
    fs.mkdirSync(path.join(dir, 'tiles'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'tiles', 'tile.bin'), pseudoRandom(seed * 1000 + p, binaryBytes));
  }
  writeDatabase(path.join(root, 'modules', 'maps', 'module.db'), 50, seed + 99);
  // A database whose name does not say so: backups find databases by their header.
  writeDatabase(path.join(root, 'modules', 'maps', 'tiles.index'), 20, seed + 7);
  const when = new Date(Date.UTC(2026, 10, 1, 12, 0, 0));
  for (const file of listFiles(root)) fs.utimesSync(file, when, when);
}

export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** SHA-256 of a file read in chunks (files may be larger than a Buffer can hold). */
export function sha256OfFile(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  try {
    for (let n = fs.readSync(fd, buf); n > 0; n = fs.readSync(fd, buf)) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Every file under `root` with its SHA-256, mode and mtime: what "the same tree" means. */
export function treeState(root: string): Record<string, { sha256: string; mode: number; mtimeMs: number }> {
  const state: Record<string, { sha256: string; mode: number; mtimeMs: number }> = {};
  for (const file of listFiles(root)) {
    const st = fs.statSync(file);
    state[path.relative(root, file)] = {
      sha256: sha256OfFile(file),
      mode: st.mode & 0o7777,
      mtimeMs: st.mtimeMs,
    };
  }
  return state;
}
