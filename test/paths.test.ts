/**
 * pathProblem (common/paths.ts) tells a path's segments without splitting it: against the
 * split-based check it replaced (kept here as the model), on every path of up to six characters over
 * an alphabet of the characters that matter, and on random longer ones. And manifestProblems, which
 * matches the archive's entries with the manifest in one map: every kind of mismatch, each once,
 * in the archive's order.
 */
import { pathProblem } from '../common/paths';
import type { EntryDigest } from '../activities/lib/archiveFormat';
import { manifestFile, manifestProblems, type Manifest, type ManifestFile } from '../activities/lib/manifest';

/** The segment checks as they were: split on '/'. */
function modelSegments(p: string): string | undefined {
  const segments = p.split('/');
  if (segments.some((s) => s === '..')) return "the path climbs out with '..'";
  if (segments.some((s) => s === '' || s === '.')) return "the path has an empty or '.' segment";
  return undefined;
}

function model(p: string): string | undefined {
  if (p.length === 0) return 'the path is empty or not a string';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'the path holds a control character';
  if (p.includes('\\')) return 'the path holds a backslash';
  if (p.startsWith('/')) return 'the path is absolute';
  if (/^[A-Za-z]:/.test(p)) return 'the path names a drive';
  return modelSegments(p);
}

test('pathProblem agrees with the split-based checks on every short path and on random long ones', () => {
  const alphabet = ['a', '.', '/', 'é', ':', '\\', '\u0001', 'b'];
  let checked = 0;
  const disagree: string[] = [];
  const check = (p: string) => {
    if (pathProblem(p) !== model(p)) disagree.push(p);
  };
  const all = (prefix: string, left: number): void => {
    check(prefix);
    checked += 1;
    if (left > 0) for (const c of alphabet) all(prefix + c, left - 1);
  };
  all('', 6);
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 20_000; i += 1) {
    let p = '';
    const n = 1 + Math.floor(random() * 40);
    for (let j = 0; j < n; j += 1) p += ['ab', '.', '..', '/', 'x.y', '.z'][Math.floor(random() * 6)];
    check(p);
  }
  expect(disagree).toEqual([]);
  expect(checked).toBe(299_593); // 8^0 + … + 8^6
  expect(pathProblem(42)).toBe('the path is empty or not a string');
  expect(pathProblem('a'.repeat(4097))).toBe('the path is longer than 4096 characters');
});

const SHA = (c: string) => c.repeat(64);
const entry = (path: string, sha: string): EntryDigest => ({
  path,
  kind: 'file',
  size: 1,
  sha256: SHA(sha),
  mode: 0o644,
  mtimeMs: 1,
});
const file = (path: string, sha: string, storedIn = 'b2'): ManifestFile =>
  manifestFile(entry(path, sha), storedIn, undefined);
const manifestOf = (files: ManifestFile[]): Manifest => ({
  specVersion: 1,
  backupId: 'b2',
  kind: 'incremental',
  parent: 'b1',
  target: 't',
  createdAt: '2026-12-01T00:00:00.000Z',
  createdBy: 'test',
  engineVersion: '1',
  modules: [],
  files,
  deleted: [],
});

test('manifestProblems: each mismatch once, in order; files stored in the parent need no entry', () => {
  const manifest = manifestOf([
    file('a', 'a'),
    file('b', 'b'),
    file('c', 'c'),
    file('d', 'd', 'b1'),
    file('é', 'e'),
  ]);
  expect(
    manifestProblems(manifest, [entry('a', 'a'), entry('b', 'b'), entry('c', 'c'), entry('é', 'e')]),
  ).toEqual({
    unusable: [],
    mismatched: [],
  });
  expect(
    manifestProblems(manifest, [
      entry('z', 'z'),
      entry('a', 'a'),
      entry('b', 'f'),
      entry('d', 'd'),
      entry('é', 'e'),
    ]),
  ).toEqual({
    unusable: [],
    mismatched: [
      `"b" differs from the manifest (expected ${SHA('b').slice(0, 16)}…, archive has ${SHA('f').slice(0, 16)}…)`,
      'the manifest lists "c" but the archive has no such entry',
      'the archive holds "z", which the manifest does not list as stored in it',
      'the archive holds "d", which the manifest does not list as stored in it',
    ],
  });
  expect(manifestProblems(manifestOf([file('a', 'a'), file('a', 'a')]), [entry('a', 'a')]).unusable).toEqual([
    'the manifest lists "a" twice',
  ]);
  expect(manifestProblems(manifestOf([file('e\u0301', 'a'), file('é', 'a')]), []).unusable[0]).toContain(
    'collide after Unicode normalisation',
  );
  expect(manifestProblems(manifestOf([file('../x', 'a')]), []).unusable[0]).toBe(
    `the manifest lists path "../x", which is refused: the path climbs out with '..'`,
  );
});
