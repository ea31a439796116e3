/**
 * Bundles the workflow code in a short-lived child process and returns the bundle's path.
 * Why: webpack's memory would otherwise stay in the worker's resident set for its whole life
 * (about 180 MB), and the worker must stay small while it streams multi-gigabyte backups.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

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
