import { CONFIG_OPTION, JSON_OPTION, SERVER_OPTIONS, type Command } from '../command';
import { load } from '../lazy';

export const command: Command = {
  name: 'agents list',
  summary:
    'list the agents that announced themselves, their hosts, builds, targets and when each was last seen',
  usage: '[--json] [--config <file>]',
  examples: ['lifeboat agents list', 'lifeboat agents list --json'],
  options: { ...JSON_OPTION, ...CONFIG_OPTION, ...SERVER_OPTIONS },
  positionals: [],
  server: true,
  async run(ctx) {
    const { lastSeenOf, readRegistry } = load.agents();
    const { localConfig } = load.localConfig();
    const { agents } = await readRegistry(localConfig(ctx.values as { config?: string }));
    const client = await ctx.connect().catch(() => undefined);
    const seen = await lastSeenOf(client, agents);
    const rows = agents.map((a) => ({ ...a, lastSeen: seen.get(a.name) ?? null }));
    if (ctx.values.json) {
      ctx.out(JSON.stringify(rows, null, 2));
      return 0;
    }
    if (rows.length === 0) {
      ctx.out('no agents have announced themselves (the control plane runs the targets of its own config)');
      return 0;
    }
    for (const a of rows)
      ctx.out(
        `${a.name}  host ${a.host}  pid ${a.pid}  ${a.build}  queue ${a.taskQueue}  last seen ${a.lastSeen ?? `never polling (announced ${a.announcedAt})`}  targets: ${a.targets.join(', ') || 'none'}`,
      );
    return 0;
  },
};
