/**
 * Files stay small and single-minded: a source file over LIMIT lines says why in its head comment
 * (a line starting `Why long:`), so that a file grows long only on purpose.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './helpers';

const LIMIT = 420;
const FOLDERS = [
  'common',
  'config',
  'activities',
  'workflows',
  'runbooks',
  'worker',
  'client',
  'scripts',
  'bench',
];

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'results' ? [] : sources(full);
    return /\.(ts|js)$/.test(e.name) ? [full] : [];
  });
}

/** The file's first comment block. */
function headComment(text: string): string {
  return /^\s*\/\*\*?([\s\S]*?)\*\//.exec(text)?.[1] ?? '';
}

test(`every source file over ${LIMIT} lines says in its head comment why it is long`, () => {
  const unexplained = FOLDERS.flatMap((folder) => sources(path.join(ROOT, folder)))
    .map((file) => ({ file: path.relative(ROOT, file), text: fs.readFileSync(file, 'utf8') }))
    .filter(({ text }) => text.split('\n').length > LIMIT && !/^\s*\*?\s*Why long:/m.test(headComment(text)))
    .map(({ file, text }) => `${file} (${text.split('\n').length} lines)`);
  expect(unexplained).toEqual([]);
});
