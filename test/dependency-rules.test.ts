/**
 * The folder rules of .dependency-cruiser.cjs (run by `npm run lint`) can fail: a tiny project in a
 * temp folder, with the real config, breaks each kind of rule once; the house rule (workflow code may
 * import activity types) passes. The real tree passing is `npm run lint`'s job.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from './helpers';

const DEPCRUISE = path.join(ROOT, 'node_modules', '.bin', 'depcruise');
const FOLDERS = ['common', 'config', 'activities', 'workflows', 'runbooks', 'worker', 'client', 'bin'];

function cruise(files: Record<string, string>): { code: number | null; out: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-deps-'));
  try {
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true } }));
    for (const [file, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    }
    const present = FOLDERS.filter((f) => fs.existsSync(path.join(dir, f)));
    const run = spawnSync(
      DEPCRUISE,
      ['--config', path.join(ROOT, '.dependency-cruiser.cjs'), '--no-progress', ...present],
      { cwd: dir, encoding: 'utf8' },
    );
    return { code: run.status, out: `${run.stdout}${run.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const TYPES = 'export interface Report { ok: boolean }\nexport const run = (): Report => ({ ok: true });\n';

test('the layering as it should be passes, including type-only imports of activity types', () => {
  const result = cruise({
    'common/types.ts': 'export const A = 1;\n',
    'config/index.ts': "import { A } from '../common/types';\nexport const B = A;\n",
    'activities/health.ts': `import { B } from '../config';\nexport const C = B;\n${TYPES}`,
    'workflows/engine.ts': "import type { Report } from '../activities/health';\nexport type R = Report;\n",
    'runbooks/check.ts': "import type { R } from '../workflows/engine';\nexport type S = R;\n",
    'client/cli.ts': "import { B } from '../config';\nexport const D = B;\n",
  });
  expect(result.out).toContain('no dependency violations');
  expect(result.code).toBe(0);
});

test.each([
  [
    'worker-not-client',
    {
      'client/runs.ts': 'export const x = 1;\n',
      'worker/main.ts': "import { x } from '../client/runs';\nexport const y = x;\n",
    },
  ],
  [
    'config-on-common',
    {
      'activities/lib/retention.ts': 'export const r = 1;\n',
      'config/index.ts': "import { r } from '../activities/lib/retention';\nexport const y = r;\n",
    },
  ],
  [
    'runbooks-on-engine',
    {
      'activities/drill.ts': TYPES,
      'runbooks/drDrill.ts': "import { run } from '../activities/drill';\nexport const y = run;\n",
    },
  ],
  [
    'no-folder-cycle',
    {
      'workflows/index.ts': "import { r } from '../runbooks/restore';\nexport const w = r;\n",
      'runbooks/restore.ts':
        "import type { W } from '../workflows/types';\nexport const r = 1;\nexport type X = W;\n",
      'workflows/types.ts': 'export type W = number;\n',
    },
  ],
])('a forbidden arrow fails the check: %s', (rule, files) => {
  const result = cruise(files as Record<string, string>);
  expect(result.code).not.toBe(0);
  expect(result.out).toContain(`error ${rule}`);
});
