import { CONFIG_OPTION, JSON_OPTION, type Command } from '../command';
import { load } from '../lazy';
import { badInput } from '../runs';

export const command: Command = {
  name: 'targets',
  summary: "list the targets runs may act on: the control plane's own and those agents hold, with labels",
  usage: '[--label <name>=<value>]... [--json] [--config <file>]',
  examples: ['lifeboat targets', 'lifeboat targets --label role=db --json'],
  options: {
    label: {
      type: 'string',
      multiple: true,
      value: 'name=value',
      description: 'only targets with this label (repeatable)',
    },
    ...JSON_OPTION,
    ...CONFIG_OPTION,
  },
  positionals: [],
  server: false,
  async run(ctx) {
    const { parseLabels, readRegistry } = load.agents();
    const { localConfig } = load.localConfig();
    const selector = parseLabels((ctx.values.label as unknown as string[] | undefined) ?? []);
    if (typeof selector === 'string') throw badInput(selector);
    const { targets } = await readRegistry(localConfig(ctx.values as { config?: string }));
    const matching = targets.filter((t) => Object.entries(selector).every(([k, v]) => t.labels[k] === v));
    if (ctx.values.json) {
      ctx.out(JSON.stringify(matching, null, 2));
      return 0;
    }
    if (matching.length === 0) {
      ctx.out(Object.keys(selector).length ? 'no target has those labels' : 'no targets');
      return 0;
    }
    for (const t of matching) {
      const labels = Object.entries(t.labels).map(([k, v]) => `${k}=${v}`);
      ctx.out(
        `${t.target}  ${t.agent === 'control-plane' ? 'control plane' : `agent ${t.agent}`}${labels.length ? `  ${labels.join(' ')}` : ''}`,
      );
    }
    return 0;
  },
};
