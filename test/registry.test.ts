/**
 * The runbook registry (runbooks/index.ts) is the one list: every runbook file is registered, every
 * registered runbook carries its metadata, and the worker's workflows are exactly the registry plus
 * the control plane's own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COVERAGE } from '../runbooks/coverage';
import { RUNBOOKS, findRunbook, registryProblems } from '../runbooks/registry';
import * as workflows from '../runbooks/workflows';

const RUNBOOK_DIR = path.join(__dirname, '..', 'runbooks');

/** Files under runbooks/ that define a runbook: they call runRunbook() with their own meta. */
function runbookFiles(): { file: string; name: string }[] {
  return fs
    .readdirSync(RUNBOOK_DIR)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((file) => {
      const text = fs.readFileSync(path.join(RUNBOOK_DIR, file), 'utf8');
      if (!/\brunRunbook\(\s*meta\b/.test(text)) return [];
      const name = /^export async function (\w+)/m.exec(text)?.[1];
      return [{ file, name: name ?? `(no exported function in ${file})` }];
    });
}

test('every runbook file is registered in runbooks/index.ts', () => {
  const files = runbookFiles();
  expect(files.length).toBeGreaterThanOrEqual(16);
  const unregistered = files.filter((f) => !findRunbook(f.name)).map((f) => f.file);
  expect(unregistered).toEqual([]);
  expect(RUNBOOKS).toHaveLength(files.length);
});

test('every registered export is a runbook whose meta carries its name', () => {
  expect(registryProblems()).toEqual([]);
  expect(new Set(RUNBOOKS.map((r) => r.name)).size).toBe(RUNBOOKS.length);
});

test('the worker runs the registered runbooks, the stuck-run sweep and the unknown-runbook default', () => {
  const exported = Object.keys(workflows).filter((k) => k !== '__esModule');
  expect(exported.sort()).toEqual(
    [...RUNBOOKS.map((r) => r.name), 'default', 'sweepStuckRuns', 'agentSession', 'forgetAgent'].sort(),
  );
});

test('the list is ordered by source procedure, then name', () => {
  const keys = RUNBOOKS.map((r) => `${/^\d+_/.exec(r.source)?.[0]} ${r.name}`);
  expect(keys).toEqual([...keys].sort((a, b) => a.localeCompare(b)));
});

test('the procedures coverage table names only registered runbooks, and every runbook at least once', () => {
  const names = new Set(RUNBOOKS.map((r) => r.name));
  const named = new Set(COVERAGE.flatMap((row) => row.runbooks));
  expect([...named].filter((n) => !names.has(n))).toEqual([]);
  expect([...names].filter((n) => !named.has(n))).toEqual([]);
  // A section no runbook carries out says why.
  for (const row of COVERAGE.filter((r) => r.runbooks.length === 0))
    expect(row.by.length).toBeGreaterThan(20);
});
