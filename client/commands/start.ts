import { SERVER_OPTIONS, requireFlag, type Command } from '../command';
import { awaitAcceptance, badInput, parseInputFlag, requireRunbook, startRunbook } from '../runs';
import { SIGN_OPTIONS, signerFrom } from '../signing';

export const command: Command = {
  name: 'start',
  summary: 'start a runbook against a target (a fleet: against many); prints the workflow id',
  usage:
    '<runbook> --target <name> [--input <json|@file>] [--id <workflowId>] [--as <you> --key <private key file>]',
  examples: [
    'lifeboat start corruptedStoreRecovery --target demo-store',
    `lifeboat start corruptedStoreRecovery --target demo-store --id incident-42 --input '{}'`,
    `lifeboat start fleet --input '{"runbook": "healthCheck", "selector": {"role": "db"}, "maxConcurrency": 2, "maxErrors": 1}'`,
  ],
  options: {
    target: {
      type: 'string',
      value: 'name',
      description: 'a target from the worker config (none for a fleet: its input names the targets)',
    },
    input: { type: 'string', value: 'json|@file', description: 'further input fields as a JSON object' },
    id: {
      type: 'string',
      value: 'workflowId',
      description: 'the workflow id (default: <runbook>-<target>-<time>)',
    },
    as: {
      type: 'string',
      value: 'identity',
      description:
        'with --key: start signed, as this identity (the requester; needed where a gate says notRequester)',
    },
    ...SIGN_OPTIONS,
    'wait-seconds': {
      type: 'string',
      value: 'n',
      description: 'how long to wait for the worker to accept the input (default 15)',
    },
    ...SERVER_OPTIONS,
  },
  positionals: ['runbook'],
  server: true,
  async run(ctx) {
    const input = parseInputFlag(ctx.values.input as string | undefined);
    if (requireRunbook(ctx.positionals[0]).targetless) {
      if (ctx.values.target !== undefined)
        throw badInput(
          `${ctx.positionals[0]} runs over many targets and takes no --target: name them in --input (targets or selector)`,
        );
    } else {
      const target = requireFlag(ctx, 'target', 'name the target to act on (see the worker config)');
      if (input.target !== undefined && input.target !== target) {
        throw badInput(
          `--input names target '${String(input.target)}' but --target is '${target}'; give one`,
        );
      }
      input.target = target;
    }
    const waitRaw = (ctx.values['wait-seconds'] as string | undefined) ?? '15';
    const waitSeconds = Number(waitRaw);
    if (!Number.isFinite(waitSeconds) || waitSeconds < 0)
      throw badInput(`--wait-seconds must be a number of seconds (got '${waitRaw}')`);
    const as = ctx.values.as as string | undefined;
    if (as !== undefined && ctx.values.key === undefined)
      throw badInput('--as on start goes with --key: a start is attributed to a person only when signed');
    const sign = signerFrom(ctx.values, as);
    const client = await ctx.connect();
    const handle = await startRunbook(client, {
      sign,
      runbook: ctx.positionals[0],
      input,
      workflowId: ctx.values.id as string | undefined,
      taskQueue: ctx.taskQueue,
    });
    const acceptance = await awaitAcceptance(client, handle, waitSeconds * 1000);
    if (acceptance.verdict === 'rejected') {
      ctx.err(`lifeboat: the worker refused the input of ${handle.workflowId}: ${acceptance.reason}`);
      return 2;
    }
    ctx.out(handle.workflowId);
    if (acceptance.verdict === 'unknown') {
      ctx.err(
        `lifeboat: started, but no worker has picked it up yet (is a worker polling task queue '${ctx.taskQueue}'?)`,
      );
    } else {
      ctx.err(`lifeboat: started; follow it with: lifeboat watch ${handle.workflowId}`);
    }
    return 0;
  },
};
