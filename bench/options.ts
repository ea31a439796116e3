/** The benchmark's command line: `npm run bench -- [--size SIZE] [--dir DIR] [--keep] [--seed N]`. */
import * as os from 'node:os';
import * as path from 'node:path';
import { GIB } from './data';

export interface Options {
  sizeBytes: number;
  sizeLabel: string;
  dir: string;
  keep: boolean;
  seed: number;
}

const USAGE = `usage: npm run bench -- [--size SIZE] [--dir DIR] [--keep] [--seed N]
  --size SIZE  size of the data set: bytes, or with K, M, G (binary units; "256M", "1G", "1GiB"); default 1G
  --dir DIR    folder to create the work folder in (default: the system temp folder)
  --keep       keep the work folder (data set, repositories, restores) at the end
  --seed N     seed of the data set (default 1)`;

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new Error(`--size: cannot read '${text}' (examples: 64M, 256M, 1G)`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase()] ?? 1;
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 1024 * 1024) throw new Error('--size must be at least 1M');
  return bytes;
}

export function parseArgs(argv: string[]): Options {
  const options: Options = { sizeBytes: GIB, sizeLabel: '1G', dir: os.tmpdir(), keep: false, seed: 1 };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = () => {
      const v = argv[(i += 1)];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--size') {
      options.sizeLabel = value();
      options.sizeBytes = parseSize(options.sizeLabel);
    } else if (arg.startsWith('--size=')) {
      options.sizeLabel = arg.slice('--size='.length);
      options.sizeBytes = parseSize(options.sizeLabel);
    } else if (arg === '--dir') options.dir = path.resolve(value());
    else if (arg === '--keep') options.keep = true;
    else if (arg === '--seed') {
      options.seed = Number(value());
      if (!Number.isInteger(options.seed) || options.seed < 1)
        throw new Error('--seed must be a positive integer');
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument '${arg}'\n${USAGE}`);
  }
  return options;
}
