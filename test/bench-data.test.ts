/**
 * The benchmark's own logic (bench/): its command line, the medians and spreads over repetitions,
 * the data set's file count, and the 1% change put back so that every repetition backs up the same
 * data. The benchmark itself (`npm run bench`) is not run here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { changeOnePercent, generateDataset, planDataset, undoChange } from '../bench/data';
import { compareFingerprints, fingerprint } from '../bench/fingerprint';
import { parseArgs } from '../bench/options';
import { median, summarize, targets } from '../bench/stats';
import type { StepResult } from '../bench/steps';
import { tempDir } from './helpers';

test('the command line: repetitions, the many-files scale, peers', () => {
  expect(parseArgs([])).toMatchObject({
    reps: 3,
    sizeLabel: '1G',
    peers: ['restic', 'borg', 'tar'],
  });
  expect(parseArgs([]).files).toBeUndefined();
  expect(parseArgs(['--reps', '1', '--size=64M'])).toMatchObject({ reps: 1, sizeBytes: 64 * 1024 ** 2 });
  expect(parseArgs(['--small-files'])).toMatchObject({ files: 100_000, sizeLabel: '400M' });
  expect(parseArgs(['--small-files', '--size', '200M'])).toMatchObject({ files: 100_000, sizeLabel: '200M' });
  expect(parseArgs(['--peers', 'restic'])).toMatchObject({ peers: ['restic'] });
  expect(() => parseArgs(['--reps', '0'])).toThrow('--reps must be a positive integer');
  expect(() => parseArgs(['--peers', 'rsync'])).toThrow('unknown rsync');
});

test('a file count of its own: that many files, the small ones averaging a few KB', () => {
  const files = planDataset({ totalBytes: 400 * 1024 ** 2, seed: 1, files: 100_000 });
  expect(files).toHaveLength(100_000);
  const small = files.filter((f) => f.kind === 'json' || f.kind === 'text');
  const average = small.reduce((n, f) => n + f.size, 0) / small.length;
  expect(average).toBeGreaterThan(2000);
  expect(average).toBeLessThan(4500);
  // Without --files the plan is the one the benchmark always had: 10,000 files per GiB.
  expect(planDataset({ totalBytes: 1024 ** 3, seed: 1 })).toHaveLength(10_000);
});

test('the 1% change is put back exactly: contents, row counts and mtimes', () => {
  const dir = tempDir('bench-data');
  try {
    const root = path.join(dir, 'data');
    const spec = { totalBytes: 2 * 1024 ** 2, seed: 3 };
    generateDataset(root, spec);
    const before = fingerprint(root);
    const mtimes = (c: { paths: string[] }) => c.paths.map((p) => fs.statSync(path.join(root, p)).mtimeMs);
    const change = changeOnePercent(root, spec, path.join(dir, 'originals'));
    expect(change.files).toBeGreaterThan(0);
    expect(compareFingerprints(before, fingerprint(root)).length).toBeGreaterThan(0);
    const changedMtimes = mtimes(change);
    undoChange(root, change, path.join(dir, 'originals'));
    expect(compareFingerprints(before, fingerprint(root))).toEqual([]);
    expect(mtimes(change).every((m, i) => m < changedMtimes[i])).toBe(true);
    expect(fs.existsSync(path.join(dir, 'originals'))).toBe(false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('medians, spreads and ratios over repetitions', () => {
  expect(median([3, 1, 2])).toBe(2);
  expect(median([4, 1, 3, 2])).toBe(2.5);
  const step = (tool: StepResult['tool'], rep: number, seconds: number, peakRssKiB: number): StepResult => ({
    key: `${tool} restore`,
    rep,
    tool,
    op: 'restore',
    label: `${tool} restore`,
    status: 'ok',
    seconds,
    userSeconds: seconds / 2,
    systemSeconds: seconds / 4,
    peakRssKiB,
    check: 'ok',
  });
  const results = [
    step('lifeboat', 1, 2, 100),
    step('restic', 1, 4, 50),
    step('lifeboat', 2, 6, 300),
    step('restic', 2, 2, 60),
    step('lifeboat', 3, 3, 200),
    step('restic', 3, 3, 70),
  ];
  const [lifeboat, restic] = summarize(results, 1e9);
  expect(lifeboat.seconds).toEqual({ median: 3, min: 2, max: 6 });
  expect(lifeboat.cpuSeconds).toBeCloseTo(2.25);
  expect(lifeboat.peakRssKiB).toBe(300);
  expect(lifeboat.reps).toBe(3);
  expect(restic.lifeboatTimeRatio).toBeCloseTo(1);
  const restore = targets([lifeboat, restic], '').find((t) => t.target.startsWith('restore'));
  expect(restore?.status).toBe('met');
});
