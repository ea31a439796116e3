/**
 * Another version of Lifeboat's workflow code, for tests of deploys: the runbooks, the engine and
 * `common/` copied into `.test-variants/<name>-<random>/` (inside the project, so that imports of
 * `@temporalio/workflow` resolve), edited as a contributor would edit them, and bundled the way the
 * worker bundles its workflows. `removeVariants()` deletes the copies.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './helpers';

const VARIANTS = path.join(ROOT, '.test-variants');

export interface Edit {
  /** A file relative to the project root, e.g. `runbooks/corruptedStoreRecovery.ts`. */
  file: string;
  /** Text that must occur exactly once, and what replaces it. */
  replace: [string, string][];
}

/** Bundles the workflow code with `edits` applied; returns the bundle's path. */
export async function bundleVariant(name: string, edits: Edit[]): Promise<string> {
  const dir = path.join(VARIANTS, `${name}-${Math.random().toString(36).slice(2, 8)}`);
  for (const folder of ['common', 'runbooks', 'workflows'])
    fs.cpSync(path.join(ROOT, folder), path.join(dir, folder), { recursive: true });
  for (const edit of edits) {
    const file = path.join(dir, edit.file);
    let text = fs.readFileSync(file, 'utf8');
    for (const [from, to] of edit.replace) {
      const count = text.split(from).length - 1;
      if (count !== 1) throw new Error(`${edit.file}: expected one ${JSON.stringify(from)}, found ${count}`);
      text = text.replace(from, to);
    }
    fs.writeFileSync(file, text);
  }
  const quiet = () => undefined;
  const bundle = await bundleWorkflowCode({
    workflowsPath: path.join(dir, 'runbooks', 'workflows.ts'),
    logger: { info: quiet, warn: console.warn, error: console.error, debug: quiet, trace: quiet, log: quiet },
  });
  const codePath = path.join(dir, 'workflows.bundle.js');
  fs.writeFileSync(codePath, bundle.code);
  return codePath;
}

export function removeVariants(): void {
  fs.rmSync(VARIANTS, { recursive: true, force: true });
}
