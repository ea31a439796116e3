import { ScheduleOverlapPolicy } from '@temporalio/client';
import { SERVER_OPTIONS, type Command } from '../command';
import { CliError, badInput } from '../runs';
import { describeSchedule } from '../schedules/find';

export const command: Command = {
  name: 'schedule trigger',
  summary:
    "start a schedule's run now (refused while one of its runs is still going); prints the workflow id",
  usage: '<scheduleId>',
  examples: ['lifeboat schedule trigger demo-storage-verify-backups'],
  options: { ...SERVER_OPTIONS },
  positionals: ['scheduleId'],
  server: true,
  async run(ctx) {
    const id = ctx.positionals[0];
    const client = await ctx.connect();
    const { handle, description } = await describeSchedule(client, id);
    const busy = (running: string[]) =>
      badInput(
        `schedule '${id}' has a run in progress (${running.join(', ')}); a drill or backup never runs twice at once — wait for it to end`,
      );
    // The schedule's own view of its running runs lags behind both ways (a run just started may be
    // missing, one just ended still listed): ask the runs themselves, recent and running ones alike.
    const stillRunning = async (info: typeof description.info) => {
      const ids = new Set([
        ...info.runningActions.map((r) => r.workflow.workflowId),
        ...info.recentActions.slice(-5).map((a) => a.action.workflow.workflowId),
      ]);
      const open = await Promise.all(
        [...ids].map(async (workflowId) => {
          const run = await client.workflow.getHandle(workflowId).describe();
          return run.status.name === 'RUNNING' ? workflowId : undefined;
        }),
      );
      return open.filter((r): r is string => r !== undefined);
    };
    const running = await stillRunning(description.info);
    if (running.length > 0) throw busy(running);
    const before = description.info.numActionsTaken;
    // ALLOW_ALL: the runs were just checked themselves (the schedule's own view lags behind and would
    // drop the trigger); should one start in the meantime, the target's lock (onBusy skip) still
    // keeps two backups or drills of a target from running at once.
    await handle.trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    const deadline = Date.now() + 10000;
    for (;;) {
      const now = await handle.describe();
      if (now.info.numActionsTaken > before) {
        const started = now.info.recentActions.at(-1)!.action.workflow.workflowId;
        ctx.out(started);
        ctx.err(`lifeboat: triggered ${id}; follow it with: lifeboat watch ${started}`);
        return 0;
      }
      if (Date.now() > deadline) {
        const open = await stillRunning(now.info);
        if (open.length > 0) throw busy(open);
        throw new CliError(`triggered ${id}, but the server started no run within 10 s`, 1);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  },
};
