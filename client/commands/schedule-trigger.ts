import { ScheduleOverlapPolicy } from '@temporalio/client';
import { SERVER_OPTIONS, type Command } from '../command';
import { CliError, badInput } from '../runs';
import { describeSchedule } from '../schedules';

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
    const busy = (running: typeof description.info.runningActions) =>
      badInput(
        `schedule '${id}' has a run in progress (${running.map((r) => r.workflow.workflowId).join(', ')}); a drill or backup never runs twice at once — wait for it to end`,
      );
    if (description.info.runningActions.length > 0) throw busy(description.info.runningActions);
    const before = description.info.numActionsTaken;
    // SKIP: should a run start in the meantime, the trigger is dropped rather than run beside it.
    await handle.trigger(ScheduleOverlapPolicy.SKIP);
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
        if (now.info.runningActions.length > 0) throw busy(now.info.runningActions);
        throw new CliError(`triggered ${id}, but the server started no run within 10 s`, 1);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  },
};
