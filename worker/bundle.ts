/**
 * The workflow bundle a worker runs: the one `npm run build` made beside the compiled workflows
 * (dist/workflow-bundle.js, from the same build as the compiled worker that finds it there), else
 * one made now in a short-lived child process. Why a child: webpack's memory would otherwise stay in
 * the worker's resident set for its whole life (about 180 MB), and the worker must stay small while
 * it streams multi-gigabyte backups. Why the build makes one: bundling costs about 5 s of CPU at every
 * worker start (the test suite starts some sixty workers; production restarts on every deploy).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/** Where `npm run build` writes the bundle: dist/, beside dist/worker/ (scripts/build.js). */
export const BUILT_BUNDLE = 'workflow-bundle.js';

/** The bundle's path; `temporary`: made now, in a folder of its own the caller removes once read. */
export async function workflowBundle(): Promise<{ file: string; temporary: boolean }> {
  // Compiled (dist/worker/bundle.js), ROOT is dist/; from the sources there is no built bundle.
  const built = path.join(ROOT, BUILT_BUNDLE);
  if (__filename.endsWith('.js') && fs.existsSync(built)) return { file: built, temporary: false };
  return { file: await bundleInChildProcess(), temporary: true };
}

export async function bundleInChildProcess(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-workflows-'));
  const out = path.join(dir, 'workflow-bundle.js');
  await new Promise<void>((resolve, reject) => {
    // Compiled (dist/), the compiled workflows are bundled; from the sources, the sources through tsx.
    const compiled = __filename.endsWith('.js');
    const main = path.join(ROOT, 'worker', compiled ? 'bundle-main.js' : 'bundle-main.ts');
    const child = spawn(process.execPath, compiled ? [main, out] : ['--require', 'tsx/cjs', main, out], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`bundling the workflows failed (exit ${code})`)),
    );
  });
  return out;
}
