/** Child process of bundleInChildProcess(): writes the workflow bundle to the path it is given. */
import { bundleWorkflowCode } from '@temporalio/worker';
import * as fs from 'node:fs';

async function main(): Promise<void> {
  const out = process.argv[2];
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../runbooks/workflows'),
    logger: {
      info: () => undefined,
      debug: () => undefined,
      trace: () => undefined,
      log: () => undefined,
      warn: console.warn,
      error: console.error,
    },
  });
  fs.writeFileSync(`${out}.tmp`, code);
  fs.renameSync(`${out}.tmp`, out);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
