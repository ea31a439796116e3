/**
 * `npm run docs`: writes runbooks/README.md from every runbook's own metadata (`meta` in
 * runbooks/<name>.ts, listed in runbooks/index.ts): summary, source procedure, objectives, input
 * fields, gates with their default policies, STOP conditions, required config sections, and a
 * Mermaid flowchart of `meta.flow` — the flow the engine holds every run to (see `checkFlow` in
 * workflows/engine/run.ts), so the page cannot drift from what runs.
 *
 * `npm run docs -- --check` writes nothing and exits 1 when the file is out of date (the test suite
 * runs it). `--file <path>` writes or checks another file instead.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../activities/lib/files';
import { DEFAULT_GATE_POLICY, type FlowNode, type GateSpec, type RunbookMeta } from '../common/runbook';
import { TARGET_FIELD, type FieldSpec } from '../common/schema';
import { COVERAGE } from '../runbooks/coverage';
import { RUNBOOKS } from '../runbooks/registry';

export const ROOT = path.resolve(__dirname, '..');
export const README = path.join(ROOT, 'runbooks', 'README.md');
/** The engine's first step in every run (workflows/engine/run.ts): every flow starts there. */
export const FIRST_STEP = 'resolveTarget';

export type NodeKind = 'step' | 'gate' | 'hold' | 'end';

export function nodeKind(node: FlowNode): NodeKind {
  if (node.id.startsWith('gate:')) return 'gate';
  if (node.id.startsWith('end:')) return 'end';
  return node.hold ? 'hold' : 'step';
}

function edges(node: FlowNode): { to: string; when?: string }[] {
  return (node.next ?? []).map((n) => (typeof n === 'string' ? { to: n } : n));
}

/**
 * Everything wrong with a runbook's flow, each problem naming the node: it starts at `resolveTarget`,
 * ids are unique, gates match `meta.gates`, every `next` exists, every node is reachable from the
 * first and leads to an end, and only ends have no `next`. An empty list means the flow is sound.
 */
export function flowProblems(meta: RunbookMeta): string[] {
  const problems: string[] = [];
  const where = `${meta.name}.flow`;
  const flow = meta.flow;
  if (flow.length === 0) return [`${where} is empty; it must start at '${FIRST_STEP}'`];
  if (flow[0].id !== FIRST_STEP) {
    problems.push(
      `${where} starts at '${flow[0].id}'; it must start at '${FIRST_STEP}' (the engine's first step)`,
    );
  }
  const byId = new Map<string, FlowNode>();
  for (const node of flow) {
    if (byId.has(node.id)) problems.push(`${where} lists '${node.id}' twice`);
    byId.set(node.id, node);
  }
  for (const node of flow) {
    const kind = nodeKind(node);
    if (kind === 'gate' && !Object.hasOwn(meta.gates, node.id.slice('gate:'.length))) {
      problems.push(
        `${where}: '${node.id}' is not a gate of meta.gates (${Object.keys(meta.gates).join(', ')})`,
      );
    }
    if (node.hold && kind !== 'hold') problems.push(`${where}: '${node.id}' cannot be a hold`);
    if (kind === 'end' && node.next?.length) problems.push(`${where}: end '${node.id}' has a next`);
    if (kind !== 'end' && !node.next?.length) {
      problems.push(`${where}: '${node.id}' has no next (only 'end:<outcome>' nodes end a run)`);
    }
    for (const edge of edges(node)) {
      if (!byId.has(edge.to))
        problems.push(`${where}: '${node.id}' goes to '${edge.to}', which is not a node`);
      if (edge.when !== undefined && edge.when.trim() === '') {
        problems.push(`${where}: '${node.id}' → '${edge.to}' has an empty 'when'`);
      }
    }
  }
  for (const gate of Object.keys(meta.gates)) {
    if (!byId.has(`gate:${gate}`)) problems.push(`${where} does not list gate 'gate:${gate}'`);
  }

  const reached = new Set<string>([flow[0].id]);
  for (const queue = [flow[0]]; queue.length > 0;) {
    for (const edge of edges(queue.shift()!)) {
      const next = byId.get(edge.to);
      if (next && !reached.has(next.id)) {
        reached.add(next.id);
        queue.push(next);
      }
    }
  }
  const unreached = flow.filter((n) => !reached.has(n.id)).map((n) => n.id);
  if (unreached.length)
    problems.push(`${where}: not reachable from '${flow[0].id}': ${unreached.join(', ')}`);

  const ending = new Set(flow.filter((n) => nodeKind(n) === 'end').map((n) => n.id));
  for (let grew = true; grew;) {
    grew = false;
    for (const node of flow) {
      if (!ending.has(node.id) && edges(node).some((e) => ending.has(e.to))) {
        ending.add(node.id);
        grew = true;
      }
    }
  }
  const stuck = flow.filter((n) => !ending.has(n.id) && reached.has(n.id)).map((n) => n.id);
  if (stuck.length) problems.push(`${where}: no way from these to an end: ${stuck.join(', ')}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Mermaid

const MERMAID_ENTITIES: Record<string, string> = {
  '#': '#35;',
  '"': '#quot;',
  '&': '#amp;',
  '<': '#lt;',
  '>': '#gt;',
  '`': '#96;',
};

/**
 * Text for inside a quoted Mermaid label: `"` would end the string, `#…;` is Mermaid's entity
 * syntax, `<`/`>`/`&` would be read as HTML and a leading backtick as a Markdown string, so each
 * becomes an entity code; line breaks become spaces. Everything else (parentheses, brackets, pipes)
 * is safe inside the quotes.
 */
export function mermaidText(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[#"&<>`]/g, (c) => MERMAID_ENTITIES[c]);
}

/**
 * A Mermaid node id for a flow node: a prefix by kind (so that no id is a Mermaid keyword such as
 * `end` or `style`), then the name with every character other than a-z, A-Z, 0-9 written as
 * `_<hex>_`, which keeps distinct names distinct.
 */
export function mermaidId(id: string, hold = false): string {
  const [prefix, name] = id.startsWith('gate:')
    ? ['gate', id.slice('gate:'.length)]
    : id.startsWith('end:')
      ? ['end', id.slice('end:'.length)]
      : [hold ? 'hold' : 'step', id];
  const safe = Array.from(name, (c) => (/[A-Za-z0-9]/.test(c) ? c : `_${c.codePointAt(0)!.toString(16)}_`));
  return `${prefix}_${safe.join('')}`;
}

/** One node in its kind's shape: step rectangle, gate hexagon, hold parallelogram, end stadium. */
export function mermaidNode(node: FlowNode): string {
  const text = [node.id, node.label]
    .filter((t): t is string => !!t)
    .map(mermaidText)
    .join('<br/>');
  const id = mermaidId(node.id, node.hold);
  switch (nodeKind(node)) {
    case 'gate':
      return `${id}{{"${text}"}}`;
    case 'hold':
      return `${id}[/"${text}"/]`;
    case 'end':
      return `${id}(["${text}"])`;
    default:
      return `${id}["${text}"]`;
  }
}

/** The flowchart of a flow (top-down): every node in the flow's order, then every edge. */
export function mermaidFlowchart(flow: FlowNode[]): string {
  const holds = new Set(flow.filter((n) => n.hold).map((n) => n.id));
  const lines = ['flowchart TD', ...flow.map((node) => `  ${mermaidNode(node)}`)];
  for (const node of flow) {
    for (const edge of edges(node)) {
      const arrow = edge.when !== undefined ? `-->|"${mermaidText(edge.when)}"|` : '-->';
      lines.push(`  ${mermaidId(node.id, node.hold)} ${arrow} ${mermaidId(edge.to, holds.has(edge.to))}`);
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Markdown

/** Prose for Markdown: characters that would start emphasis, code, links or HTML are escaped. */
export function markdownText(text: string): string {
  return text.replace(/[\\`*_[\]<>~]/g, (c) => `\\${c}`);
}

/** Inline code; a value holding backticks gets a longer fence. */
export function markdownCode(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** A table row; `|` inside a cell (even in code) is escaped so it does not split the cell. */
export function tableRow(cells: string[]): string {
  return `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
}

function table(header: string[], rows: string[][]): string {
  return [tableRow(header), tableRow(header.map(() => '---')), ...rows.map(tableRow)].join('\n');
}

/** Minutes as an operator reads them: `10 s`, `15 min`, `24 h`. */
export function formatMinutes(minutes: number): string {
  if (minutes < 1) return `${Math.round(minutes * 60)} s`;
  if (minutes >= 60 && minutes % 60 === 0) return `${minutes / 60} h`;
  return `${minutes} min`;
}

/** A gate's default policy in words (a target's config may override it per gate). */
export function gatePolicyText(spec: GateSpec): string {
  const policy = { ...DEFAULT_GATE_POLICY, ...spec.defaults };
  if (policy.automatic) return 'opens automatically';
  const who = policy.approvers.includes('*') ? 'anyone' : policy.approvers.map(markdownCode).join(', ');
  const votes = policy.quorum === 1 ? '1 approval' : `${policy.quorum} distinct approvals`;
  const timeout =
    policy.timeoutSeconds === undefined
      ? 'no timeout'
      : `after ${policy.timeoutSeconds} s: ${policy.onTimeout === 'proceed' ? 'proceeds' : 'stops the run'}`;
  return `${votes} by ${who}; ${timeout}`;
}

function fieldRow(name: string, field: FieldSpec): string[] {
  return [
    markdownCode(name),
    markdownCode(field.type),
    field.required ? 'yes' : 'no',
    field.enum ? field.enum.map(markdownCode).join(', ') : '',
    markdownText(field.description),
  ];
}

function objective(minutes: number | undefined): string {
  return minutes === undefined ? 'not set' : formatMinutes(minutes);
}

function anchor(meta: RunbookMeta): string {
  return `#${meta.name.toLowerCase()}`;
}

/** The section of one runbook. */
export function renderRunbook(meta: RunbookMeta): string {
  const out: string[] = [];
  out.push(`## ${meta.name}`, '', `**${markdownText(meta.title)}.** ${markdownText(meta.summary)}`, '');
  out.push(`- Source procedure: ${markdownText(meta.source)}`);
  out.push(
    `- Objectives: RTO ${objective(meta.objectives?.rtoMinutes)}, RPO ${objective(meta.objectives?.rpoMinutes)}`,
  );
  out.push(
    meta.targetless
      ? '- No single target: the input names the targets; the run is named `fleet:<selector>` or `fleet:<targets>` (its RunbookTarget)'
      : `- Config sections the target needs: ${meta.requires.length ? meta.requires.map(markdownCode).join(', ') : 'none'}`,
  );
  if (meta.checksInput) {
    out.push(
      meta.targetless
        ? "- The input is checked against the control plane's config before `lifeboat start` returns"
        : "- The input beyond the target is checked against the worker's config before `lifeboat start` returns",
    );
  }
  out.push('', '### Input', '');
  const fields: [string, FieldSpec][] = [
    ...(meta.targetless ? [] : [['target', TARGET_FIELD] as [string, FieldSpec]]),
    ...Object.entries(meta.input),
  ];
  out.push(
    table(
      ['Field', 'Type', 'Required', 'Allowed values', 'Description'],
      fields.map(([name, field]) => fieldRow(name, field)),
    ),
  );
  out.push('', '### Gates', '');
  const gates = Object.entries(meta.gates);
  out.push(
    gates.length === 0
      ? 'None.'
      : table(
          ['Gate', 'Waits', 'Default policy'],
          gates.map(([name, spec]) => [
            markdownCode(name),
            markdownText(spec.description),
            gatePolicyText(spec),
          ]),
        ),
  );
  out.push('', '### STOP conditions', '');
  out.push(meta.stops.length === 0 ? 'None.' : meta.stops.map((s) => `- ${markdownText(s)}`).join('\n'));
  out.push('', '### Flow', '', '```mermaid', mermaidFlowchart(meta.flow), '```');
  return out.join('\n');
}

/** The whole page, unformatted (see `generate` for the formatted file). */
export function renderReadme(runbooks: RunbookMeta[]): string {
  const problems = runbooks.flatMap(flowProblems);
  if (problems.length) throw new Error(`cannot draw the runbooks' flows:\n- ${problems.join('\n- ')}`);
  const index = table(
    ['Runbook', 'What it does', 'Gates', 'RTO', 'RPO'],
    runbooks.map((meta) => [
      `[${meta.name}](${anchor(meta)})`,
      markdownText(meta.title),
      Object.keys(meta.gates).map(markdownCode).join(', '),
      objective(meta.objectives?.rtoMinutes),
      objective(meta.objectives?.rpoMinutes),
    ]),
  );
  const intro = [
    '# Runbooks',
    '',
    "<!-- Generated by `npm run docs` from each runbook's `meta` in runbooks/*.ts: edit those, not this file. -->",
    '',
    "Written from each runbook's own metadata by `npm run docs`; `npm test` fails when this page is out of",
    'date. The flowcharts are the flows the engine holds every run to: a run that uses a step, gate, hold or',
    'end its flow does not list fails as a `RunbookBug`.',
    '',
    'In the flowcharts, rectangles are steps (named as `lifeboat status` lists them), hexagons are gates',
    '(approval points), parallelograms are holds (the run waits for work only a human can do, then `retry`',
    'goes on) and stadiums are ends (`end:<outcome>` of the result, or `end:completed`). Not drawn, because',
    'they can happen anywhere: a step that fails with a STOP class or runs out of retries waits for `retry`,',
    '`skip` (where the step allows it) or `stop`; `stop` at any moment runs the compensations and ends the',
    'run as `stopped`; input that a step refuses fails the run at once.',
    '',
    "A gate's default policy can be overridden per target in the worker's config (`gates.<gate>`).",
  ];
  return [
    ...intro,
    '',
    index,
    '',
    ...renderCoverage(),
    '',
    ...runbooks.map(renderRunbook).flatMap((s) => [s, '']),
    '',
  ].join('\n');
}

/** The procedures' backup and recovery sections, each with the runbooks that carry it out. */
function renderCoverage(): string[] {
  return [
    '## Coverage of the procedures',
    '',
    'Every section of the five source procedures (`../shared/procedures/`) that describes a backup or',
    'recovery task, and the runbook (or option) that carries it out. From `runbooks/coverage.ts`.',
    '',
    table(
      ['Procedure', 'Section', 'Task', 'Runbooks', 'How'],
      COVERAGE.map((row) => [
        row.procedure,
        markdownText(row.section),
        markdownText(row.task),
        row.runbooks.length ? row.runbooks.map((r) => `[${r}](#${r.toLowerCase()})`).join(', ') : '—',
        markdownText(row.by),
      ]),
    ),
  ];
}

/** The page as the repository keeps it: formatted by Prettier with the repository's config. */
export async function generate(runbooks: RunbookMeta[] = RUNBOOKS): Promise<string> {
  // Imported here: Prettier is an ES module at heart, and only the script needs it.
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(README)) ?? {};
  return prettier.format(renderReadme(runbooks), { ...options, filepath: README });
}

const USAGE = 'usage: npm run docs [-- --check] [--file <path>]';

async function main(argv: string[]): Promise<number> {
  let check = false;
  let file = README;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--check') check = true;
    else if (argv[i] === '--file' && argv[i + 1]) file = path.resolve(argv[++i]);
    else {
      console.error(`unknown argument '${argv[i]}'; ${USAGE}`);
      return 2;
    }
  }
  const shown = path.relative(ROOT, file).startsWith('..') ? file : path.relative(ROOT, file);
  const text = await generate();
  if (check) {
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    if (current !== text) {
      console.error(`${shown} is out of date: run npm run docs`);
      return 1;
    }
    console.log(`${shown} is up to date`);
    return 0;
  }
  await writeFileAtomic(file, text);
  console.log(`wrote ${shown} (${RUNBOOKS.length} runbooks)`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
