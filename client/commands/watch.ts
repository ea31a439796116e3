import type { WorkflowHandle } from '@temporalio/client';
import { SERVER_OPTIONS, type Command } from '../command';
import { describeStep, describeWaiting, formatProgress, type ProgressSample } from '../format';
import { badInput, existingRun, queryStatus } from '../runs';

/** Progress lines from the heartbeats of the run's pending activities (its long steps). */
async function pendingProgress(
  handle: WorkflowHandle,
  samples: Map<string, ProgressSample>,
): Promise<string[]> {
  const description = await handle.describe();
  const lines: string[] = [];
  const now = Date.now();
  for (const activity of description.raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (!payload?.data) continue;
    let details: Record<string, unknown>;
    try {
      details = JSON.parse(Buffer.from(payload.data).toString('utf8')) as Record<string, unknown>;
    } catch {
      continue; // Not JSON: nothing readable to show.
    }
    const key = `${activity.activityId}`;
    const name = activity.activityType?.name ?? 'activity';
    lines.push(formatProgress(name, details, samples.get(key), now));
    if (typeof details.bytes === 'number') samples.set(key, { bytes: details.bytes, at: now });
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
    const samples = new Map<string, ProgressSample>();
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
        const progress = (await pendingProgress(handle, samples)).join('\n');
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
