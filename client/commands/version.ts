import { temporal } from '@temporalio/proto';
import { buildInfo, describeBuild } from '../../config/build';
import { JSON_OPTION, SERVER_OPTIONS, type Command } from '../command';
import { UnreachableError } from '../../config/connection';

const RUNS: Record<string, string> = {
  compiled: 'compiled JavaScript (dist/)',
  sources: 'TypeScript sources (through tsx)',
  bundle: 'compiled JavaScript in one bundled file (dist/lifeboat-cli.js, as in the CLI package)',
};

interface Poller {
  identity: string;
  lastAccess?: string;
}

export const command: Command = {
  name: 'version',
  summary:
    "print this CLI's build and, when the server answers, the build of every worker polling the task queue",
  usage: '[--json]',
  examples: ['lifeboat version'],
  options: { ...JSON_OPTION, ...SERVER_OPTIONS },
  positionals: [],
  server: true,
  async run(ctx) {
    const cli = buildInfo();
    let pollers: Poller[] | undefined;
    let unreachable: string | undefined;
    try {
      const client = await ctx.connect();
      const answer = await client.workflowService.describeTaskQueue({
        namespace: client.options.namespace,
        taskQueue: { name: ctx.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      });
      pollers = (answer.pollers ?? []).map((p) => ({
        identity: p.identity ?? '?',
        lastAccess: p.lastAccessTime?.seconds
          ? new Date(Number(p.lastAccessTime.seconds) * 1000).toISOString()
          : undefined,
      }));
    } catch (err) {
      if (!(err instanceof UnreachableError)) throw err;
      unreachable = err.message;
    }
    // The launcher says which it loaded: bin/lifeboat.js the compiled JavaScript (dist/) or the
    // TypeScript sources, the bundle (a checkout's build, the CLI package: scripts/pack-cli.js)
    // 'bundle', and bin/cached-bundle.js what became of its code cache.
    const runs = process.env.LIFEBOAT_CLI_RUNS ?? 'sources';
    const codeCache = process.env.LIFEBOAT_CLI_CACHE;
    if (ctx.values.json) {
      ctx.out(
        JSON.stringify(
          { cli, runs, codeCache, taskQueue: ctx.taskQueue, workers: pollers ?? null, unreachable },
          null,
          2,
        ),
      );
      return 0;
    }
    ctx.out(`lifeboat ${describeBuild(cli)}`);
    ctx.out(`cli: ${RUNS[runs] ?? runs}${codeCache ? ` (code cache: ${codeCache})` : ''}`);
    if (unreachable) ctx.out(`workers: unknown (${unreachable})`);
    else if (!pollers?.length) ctx.out(`workers: none polls task queue '${ctx.taskQueue}'`);
    else
      for (const p of pollers)
        ctx.out(
          `worker ${p.identity} polls '${ctx.taskQueue}'${p.lastAccess ? ` (last seen ${p.lastAccess})` : ''}`,
        );
    return 0;
  },
};
