/**
 * The benchmark's data set: SQLite databases, many small JSON/text files and a few large
 * incompressible binaries, generated from a seed so that every run (and every machine) gets the
 * same bytes. Also the 1% change made before the incremental backups, and putting the changed files
 * back (from copies taken before the change) for the next repetition. fingerprint.ts checks trees.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pseudoRandom, writeDatabase } from '../scripts/storage-root';

export const GIB = 1024 * 1024 * 1024;
/** Files in the 1 GiB data set; the count scales linearly with the size. */
const FILES_PER_GIB = 10_000;
/** Shares of the total size. */
const DATABASE_SHARE = 0.35;
const SMALL_SHARE = 0.15;
/**
 * With a file count of its own (--files), the small files average about this many bytes: their share
 * of the total grows to fit (between SMALL_SHARE and MAX_SMALL_SHARE; the binaries get the rest).
 */
const SMALL_FILE_BYTES = 4000;
const MAX_SMALL_SHARE = 0.6;
/** What writeDatabase() spends per row, measured: ~117 bytes. */
const DATABASE_BYTES_PER_ROW = 117;
/** Every generated file gets this mtime; changed files get CHANGED_AT. */
const GENERATED_AT = new Date(Date.UTC(2026, 10, 1, 12, 0, 0));
const CHANGED_AT = new Date(Date.UTC(2026, 10, 2, 12, 0, 0));
const FILES_PER_DIR = 100;

export type FileKind = 'database' | 'json' | 'text' | 'binary';

/** What to generate: the total size, the seed, and the file count (default: FILES_PER_GIB per GiB). */
export interface DatasetSpec {
  totalBytes: number;
  seed: number;
  files?: number;
}

export interface GeneratedFile {
  path: string;
  kind: FileKind;
  size: number;
  /** Seed of the content (databases: row count is in `rows`). */
  seed: number;
  rows?: number;
}

export interface DatasetSummary {
  seed: number;
  requestedBytes: number;
  /** The file count asked for with --files (undefined: scaled with the size). */
  requestedFiles?: number;
  files: number;
  bytes: number;
  databases: number;
  databaseBytes: number;
  smallFiles: number;
  smallBytes: number;
  binaries: number;
  binaryBytes: number;
}

/** mulberry32: a small seeded PRNG for the choices (sizes, kinds, which files change). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'backup restore archive snapshot volume replica ledger journal runbook target storage root ' +
  'project module tile map layer index record entry chunk segment manifest checksum catalog ' +
  'the a an of to in for on with by from at as is was be are this that it its and or not ' +
  'server client worker queue signal timer retry policy window gate approval operator pager ' +
  'disk network region zone cluster node shard primary secondary failover drill recovery ' +
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november ' +
  'north south east west river lake forest mountain valley harbour bridge tunnel station ' +
  'quickly slowly carefully daily weekly monthly hourly nightly often rarely never always'
).split(' ');

function words(rand: () => number, minChars: number): string {
  const out: string[] = [];
  let n = 0;
  while (n < minChars) {
    const w = WORDS[Math.floor(rand() * WORDS.length)];
    out.push(w);
    n += w.length + 1;
  }
  return out.join(' ');
}

/** A JSON document of about `size` bytes. */
function jsonContent(seed: number, size: number): string {
  const rand = prng(seed);
  const doc = {
    id: `doc-${seed}`,
    type: ['note', 'layer', 'task', 'comment'][seed % 4],
    title: words(rand, 30),
    tags: words(rand, 20).split(' '),
    revision: Math.floor(rand() * 1000),
    metrics: { a: rand(), b: rand() * 1000, c: Math.floor(rand() * 1e6) },
    createdAt: new Date(GENERATED_AT.getTime() - Math.floor(rand() * 1e10)).toISOString(),
    body: '',
  };
  doc.body = words(rand, Math.max(0, size - JSON.stringify(doc, null, 2).length - 2));
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** A markdown text of about `size` bytes. */
function textContent(seed: number, size: number): string {
  const rand = prng(seed);
  const parts = [`# ${words(rand, 24)}\n`];
  let n = parts[0].length;
  while (n < size) {
    const para = `\n${words(rand, Math.min(600, Math.max(1, size - n - 2)))}\n`;
    parts.push(para);
    n += para.length;
  }
  return parts.join('');
}

function contentOf(file: GeneratedFile): Buffer | string {
  if (file.kind === 'json') return jsonContent(file.seed, file.size);
  if (file.kind === 'text') return textContent(file.seed, file.size);
  return pseudoRandom(file.seed, file.size);
}

/** Plans the data set: which files, what kind, how big. Pure. */
export function planDataset(spec: DatasetSpec): GeneratedFile[] {
  const { totalBytes, seed } = spec;
  const scale = totalBytes / GIB;
  const databases = Math.max(3, Math.round(8 * scale));
  const binaries = Math.max(2, Math.round(16 * scale));
  const fileCount = Math.max(50, databases + binaries + 1, spec.files ?? Math.round(FILES_PER_GIB * scale));
  const small = fileCount - databases - binaries;
  const smallShare =
    spec.files === undefined
      ? SMALL_SHARE
      : Math.min(MAX_SMALL_SHARE, Math.max(SMALL_SHARE, (small * SMALL_FILE_BYTES) / totalBytes));
  const rand = prng(seed);
  const files: GeneratedFile[] = [];

  const rowsPerDb = Math.max(
    100,
    Math.round((totalBytes * DATABASE_SHARE) / databases / DATABASE_BYTES_PER_ROW),
  );
  const projects = databases - 1;
  files.push({ path: 'core.db', kind: 'database', size: 0, seed: seed * 7919, rows: rowsPerDb });
  for (let p = 0; p < projects; p += 1) {
    const rows = Math.round(rowsPerDb * (0.5 + rand()));
    files.push({
      path: projectDir(p, 'project.db'),
      kind: 'database',
      size: 0,
      seed: seed * 7919 + p + 1,
      rows,
    });
  }

  // Small files: log-uniform sizes (256 B .. 64 KiB before scaling), scaled to their share.
  const raw = Array.from({ length: small }, () => Math.exp(Math.log(256) + rand() * Math.log(256)));
  const factor = (totalBytes * smallShare) / raw.reduce((a, b) => a + b, 0);
  for (let i = 0; i < small; i += 1) {
    const kind: FileKind = rand() < 0.6 ? 'json' : 'text';
    const dir = Math.floor(i / FILES_PER_DIR);
    const name = `${kind === 'json' ? 'doc' : 'note'}-${String(i).padStart(6, '0')}.${kind === 'json' ? 'json' : 'md'}`;
    files.push({
      path: projectDir(dir % Math.max(1, projects), `docs/d${String(dir).padStart(4, '0')}/${name}`),
      kind,
      size: Math.max(64, Math.round(raw[i] * factor)),
      seed: seed * 1_000_003 + i,
    });
  }

  // Large binaries: incompressible, sharing what is left (estimated here; generateDataset sizes them
  // from the bytes the databases and small files actually took).
  const used = files.reduce(
    (n, f) => n + (f.kind === 'database' ? (f.rows ?? 0) * DATABASE_BYTES_PER_ROW : f.size),
    0,
  );
  const binaryBytes = Math.max(4096, Math.floor((totalBytes - used) / binaries / 4) * 4);
  for (let b = 0; b < binaries; b += 1) {
    files.push({
      path: projectDir(b % Math.max(1, projects), `media/blob-${String(b).padStart(3, '0')}.bin`),
      kind: 'binary',
      size: binaryBytes,
      seed: seed * 104_729 + b + 1,
    });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

function projectDir(p: number, rest: string): string {
  return `projects/p${String(p).padStart(3, '0')}/${rest}`;
}

/** Writes the planned data set under `root` (which must not exist yet). */
export function generateDataset(root: string, spec: DatasetSpec): DatasetSummary {
  const { totalBytes, seed } = spec;
  const files = planDataset(spec);
  fs.mkdirSync(root, { recursive: true });
  const write = (file: GeneratedFile): number => {
    const abs = path.join(root, ...file.path.split('/'));
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    if (file.kind === 'database') {
      writeDatabase(abs, file.rows ?? 100, file.seed);
      // Rollback-journal mode: a read-only connection (a backup tool's, or this benchmark's check)
      // then leaves no -wal/-shm files behind, so every tool sees the same tree.
      const db = new Database(abs);
      db.pragma('journal_mode = DELETE');
      db.close();
    } else fs.writeFileSync(abs, contentOf(file));
    fs.utimesSync(abs, GENERATED_AT, GENERATED_AT);
    return (file.size = fs.statSync(abs).size);
  };
  // Binaries last: they share what the databases and small files left of the requested size.
  let written = 0;
  for (const file of files) if (file.kind !== 'binary') written += write(file);
  const blobs = files.filter((f) => f.kind === 'binary');
  const blobSize = Math.max(4096, Math.floor((totalBytes - written) / blobs.length / 4) * 4);
  for (const file of blobs) write(Object.assign(file, { size: blobSize }));
  const sum = (kinds: FileKind[]) => files.filter((f) => kinds.includes(f.kind));
  const bytes = (list: GeneratedFile[]) =>
    list.reduce((n, f) => n + fs.statSync(path.join(root, f.path)).size, 0);
  return {
    seed,
    requestedBytes: totalBytes,
    requestedFiles: spec.files,
    files: files.length,
    bytes: bytes(files),
    databases: sum(['database']).length,
    databaseBytes: bytes(sum(['database'])),
    smallFiles: sum(['json', 'text']).length,
    smallBytes: bytes(sum(['json', 'text'])),
    binaries: sum(['binary']).length,
    binaryBytes: bytes(sum(['binary'])),
  };
}

export interface ChangeSummary {
  files: number;
  bytes: number;
  paths: string[];
}

/**
 * The files the 1% change picks (at least one): one database, and picks uniform over the remaining
 * files, seeded. Pure: the same every repetition.
 */
export function pickChanges(spec: DatasetSpec): GeneratedFile[] {
  const files = planDataset(spec);
  const rand = prng(spec.seed ^ 0x5eed);
  const count = Math.max(1, Math.round(files.length / 100));
  const dbs = files.filter((f) => f.kind === 'database');
  const picked = [dbs[Math.floor(rand() * dbs.length)]];
  const rest = files.filter((f) => f.kind !== 'database');
  while (picked.length < count && rest.length)
    picked.push(rest.splice(Math.floor(rand() * rest.length), 1)[0]);
  return picked;
}

const abs = (root: string, rel: string) => path.join(root, ...rel.split('/'));

/**
 * Changes 1% of the files (pickChanges): the database gets 1% more rows, the other picks are
 * rewritten with new content of the same size. Changed files get a later mtime. Each is first copied
 * (mtime kept) under `originals`, for undoChange.
 */
export function changeOnePercent(root: string, spec: DatasetSpec, originals: string): ChangeSummary {
  const picked = pickChanges(spec);
  fs.rmSync(originals, { recursive: true, force: true });
  for (const file of picked) {
    const copy = abs(originals, file.path);
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.copyFileSync(abs(root, file.path), copy);
    fs.utimesSync(copy, GENERATED_AT, GENERATED_AT);
  }
  let bytes = 0;
  for (const [i, file] of picked.entries()) {
    const target = abs(root, file.path);
    if (file.kind === 'database') {
      const db = new Database(target);
      const insert = db.prepare('INSERT INTO items (name, body) VALUES (?, ?)');
      const rows = Math.max(100, Math.round((file.rows ?? 100) / 100));
      db.transaction(() => {
        for (let r = 0; r < rows; r += 1)
          insert.run(`changed-${spec.seed}-${r}`, `changed body ${r} `.repeat(6));
      })();
      db.close();
    } else {
      const size = fs.statSync(target).size;
      fs.writeFileSync(target, contentOf({ ...file, size, seed: file.seed + 7_777_777 + i }));
    }
    fs.utimesSync(target, CHANGED_AT, CHANGED_AT);
    bytes += fs.statSync(target).size;
  }
  return { files: picked.length, bytes, paths: picked.map((f) => f.path) };
}

/** Puts the files changeOnePercent changed back as generated (contents and mtimes), from `originals`. */
export function undoChange(root: string, change: ChangeSummary, originals: string): void {
  for (const rel of change.paths) {
    const target = abs(root, rel);
    fs.copyFileSync(abs(originals, rel), target);
    fs.utimesSync(target, GENERATED_AT, GENERATED_AT);
  }
  fs.rmSync(originals, { recursive: true, force: true });
}
