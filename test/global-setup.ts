/**
 * Starts one real Temporal dev server (the pinned CLI) on a free port, with Lifeboat's search
 * attributes, and bundles the workflows once. Test files read the address and bundle path from
 * the environment (LIFEBOAT_TEST_ADDRESS, LIFEBOAT_TEST_BUNDLE).
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SEARCH_ATTRIBUTES } from '../common/constants';
import { freePort } from './ports';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { findTemporalCli } = require('../scripts/setup.js') as { findTemporalCli: () => string };

export default async function globalSetup(): Promise<void> {
  const port = await freePort();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: findTemporalCli() },
      ip: '127.0.0.1',
      port,
      searchAttributes: SEARCH_ATTRIBUTES,
      extraArgs: ['--log-level', 'error'],
    },
  });
  (globalThis as Record<string, unknown>).__LIFEBOAT_TEMPORAL__ = env;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-bundle-'));
  const bundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../runbooks/workflows'),
    logger: {
      info: () => undefined,
      warn: console.warn,
      error: console.error,
      debug: () => undefined,
      trace: () => undefined,
      log: () => undefined,
    },
  });
  const codePath = path.join(dir, 'workflows.js');
  fs.writeFileSync(codePath, bundle.code);
  process.env.LIFEBOAT_TEST_ADDRESS = `127.0.0.1:${port}`;
  process.env.LIFEBOAT_TEST_BUNDLE = codePath;
}
