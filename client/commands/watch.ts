import type { WorkflowHandle } from '@temporalio/client';
import { SERVER_OPTIONS, type Command } from '../command';
import { describeStep, describeWaiting } from '../format';
import { badInput, existingRun, queryStatus } from '../runs';

/** Heartbeat details of the run's pending activities (the progress its long steps report). */
async function pendingProgress(handle: WorkflowHandle): Promise<string[]> {
  const description = await handle.describe();
  const lines: string[] = [];
  for (const activity of description.raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (!payload?.data) continue;
    try {
      const details = JSON.parse(Buffer.from(payload.data).toString('utf8')) as Record<string, unknown>;
      lines.push(
        `  … ${activity.activityType?.name}: ${Object.entries(details)
          .map(([k, v]) => `${k} ${String(v)}`)
          .join(', ')}`,
      );
    } catch {
      // Not JSON: nothing readable to show.
    }
  }
  return lines;
}

export const command: Command = {
  name: 'watch',
  summary: 'follow a run live until it ends or waits for a decision',
  usage: '<workflowId> [--interval <seconds>]',
  examples: ['lifeboat watch incident-42'],
  options: {
    interval: { type: 'string', value: 'seconds', description: 'how often to look (default 1)' },
    ...SERVER_OPTIONS,
  },
  positionals: ['workflowId'],
  server: true,
  async run(ctx) {
    const intervalRaw = (ctx.values.interval as string | undefined) ?? '1';
    const interval = Number(intervalRaw);
    if (!Number.isFinite(interval) || interval <= 0)
      throw badInput(`--interval must be a positive number of seconds (got '${intervalRaw}')`);
    const client = await ctx.connect();
    const handle = await existingRun(client, ctx.positionals[0]);
    const shown = new Map<string, string>();
    let lastProgress = '';
    for (;;) {
      const status = await queryStatus(client, handle);
      status.steps.forEach((step, i) => {
        const line = describeStep(step);
        if (shown.get(`${i}`) !== line) {
          shown.set(`${i}`, line);
          ctx.out(line);
        }
      });
      if (status.state === 'running') {
        const progress = (await pendingProgress(handle)).join('\n');
        if (progress && progress !== lastProgress) ctx.out(progress);
        lastProgress = progress;
        await new Promise((r) => setTimeout(r, interval * 1000));
        continue;
      }
      describeWaiting(status).forEach((l) => ctx.out(l));
      ctx.out(`state: ${status.state}${status.error ? ` — ${status.error}` : ''}`);
      if (status.result !== undefined) ctx.out(`result: ${JSON.stringify(status.result)}`);
      return status.state === 'failed' ? 1 : 0;
    }
  },
};
