/** The benchmark's command line: `npm run bench -- [options]` (USAGE). */
import * as os from 'node:os';
import * as path from 'node:path';
import { GIB } from './data';
import { PEERS, type Peer } from './tools';

export interface Options {
  sizeBytes: number;
  sizeLabel: string;
  /** The data set's file count (--files, --small-files); undefined: 10,000 per GiB of the size. */
  files?: number;
  dir: string;
  keep: boolean;
  seed: number;
  /** How many times the whole sequence runs (interleaved: every step of rep 1, then of rep 2, …). */
  reps: number;
  /** The peers measured (--peers); the others' rows say 'skipped'. */
  peers: Peer[];
}

/** The file count and default size of --small-files. */
export const SMALL_FILES = 100_000;
const SMALL_FILES_SIZE = '400M';

const USAGE = `usage: npm run bench -- [--size SIZE] [--files N | --small-files] [--reps N] [--peers LIST]
                            [--dir DIR] [--keep] [--seed N]
  --size SIZE    size of the data set: bytes, or with K, M, G (binary units; "256M", "1G", "1GiB");
                 default 1G (${SMALL_FILES_SIZE} with --small-files)
  --files N      the data set's file count (default 10,000 per GiB of --size); its small files average
                 about 4 KB then (at most 60% of --size; the binaries get what is left)
  --small-files  the many-files scale: --files ${SMALL_FILES} and, unless --size says otherwise, --size ${SMALL_FILES_SIZE}
  --reps N       run the whole sequence N times, interleaved, in fresh repositories (default 3);
                 the table shows the median and the spread (1 for a quick look)
  --peers LIST   the peers to measure, comma-separated, of ${PEERS.join(', ')} (default: all)
  --dir DIR      folder to create the work folder in (default: the system temp folder)
  --keep         keep the work folder (data set, every repetition's repositories and restores)
  --seed N       seed of the data set (default 1)`;

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new Error(`--size: cannot read '${text}' (examples: 64M, 256M, 1G)`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase()] ?? 1;
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 1024 * 1024) throw new Error('--size must be at least 1M');
  return bytes;
}

function positiveInteger(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

function parsePeers(text: string): Peer[] {
  const names = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(PEERS as readonly string[]).includes(n));
  if (unknown.length)
    throw new Error(`--peers: unknown ${unknown.join(', ')} (choose from ${PEERS.join(', ')})`);
  return PEERS.filter((p) => names.includes(p));
}

export function parseArgs(argv: string[]): Options {
  const options: Options = {
    sizeBytes: GIB,
    sizeLabel: '1G',
    dir: os.tmpdir(),
    keep: false,
    seed: 1,
    reps: 3,
    peers: [...PEERS],
  };
  let sizeGiven = false;
  let smallFiles = false;
  const setSize = (label: string) => {
    options.sizeLabel = label;
    options.sizeBytes = parseSize(label);
    sizeGiven = true;
  };
  for (let i = 0; i < argv.length; i += 1) {
    const [arg, inline] =
      argv[i].startsWith('--') && argv[i].includes('=') ? argv[i].split(/=(.*)/s) : [argv[i]];
    const value = () => {
      const v = inline ?? argv[(i += 1)];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--size') setSize(value());
    else if (arg === '--files') options.files = positiveInteger('--files', value());
    else if (arg === '--small-files') smallFiles = true;
    else if (arg === '--reps') options.reps = positiveInteger('--reps', value());
    else if (arg === '--peers') options.peers = parsePeers(value());
    else if (arg === '--dir') options.dir = path.resolve(value());
    else if (arg === '--keep') options.keep = true;
    else if (arg === '--seed') options.seed = positiveInteger('--seed', value());
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument '${argv[i]}'\n${USAGE}`);
  }
  if (smallFiles) {
    options.files ??= SMALL_FILES;
    if (!sizeGiven) setSize(SMALL_FILES_SIZE);
  }
  return options;
}

/** A short name of the data set's scale, for the report and the results file: "1G", "400M-100000files". */
export function scaleLabel(options: Options): string {
  return options.files === undefined ? options.sizeLabel : `${options.sizeLabel}-${options.files}files`;
}
