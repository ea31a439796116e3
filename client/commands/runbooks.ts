import { TARGET_FIELD } from '../../common/schema';
import { RUNBOOKS } from '../../runbooks/registry';
import { JSON_OPTION, type Command } from '../command';

export const command: Command = {
  name: 'runbooks',
  summary: 'list the runbooks with their summary, input fields and gates',
  usage: '[--json]',
  examples: ['lifeboat runbooks', 'lifeboat runbooks --json'],
  options: { ...JSON_OPTION },
  positionals: [],
  server: false,
  async run(ctx) {
    const list = RUNBOOKS.map((r) => ({
      ...r,
      input: r.targetless ? r.input : { target: TARGET_FIELD, ...r.input },
    }));
    if (ctx.values.json) {
      ctx.out(JSON.stringify(list, null, 2));
      return 0;
    }
    for (const r of list) {
      ctx.out(`${r.name} — ${r.title}`);
      ctx.out(`  ${r.summary}`);
      ctx.out(`  source: ${r.source}`);
      ctx.out('  input:');
      for (const [field, spec] of Object.entries(r.input)) {
        ctx.out(`    ${field} (${spec.type}${spec.required ? ', required' : ''}): ${spec.description}`);
      }
      const gates = Object.entries(r.gates);
      if (gates.length) ctx.out(`  gates: ${gates.map(([g, s]) => `${g} (${s.description})`).join('; ')}`);
      ctx.out('');
    }
    return 0;
  },
};
