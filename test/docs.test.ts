/**
 * The generated runbook docs (scripts/docs.ts): every runbook's flow is sound, Mermaid labels and ids
 * cannot break the chart, the committed runbooks/README.md is what `npm run docs` writes, and the
 * engine fails a run that uses a step, gate, hold or end its flow does not list.
 */
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { retryUpdate } from '../common/messages';
import type { FlowNode, RunbookMeta } from '../common/runbook';
import type { RunOutcome } from '../common/types';
import { RUNBOOKS } from '../runbooks/registry';
import {
  flowProblems,
  formatMinutes,
  gatePolicyText,
  markdownCode,
  markdownText,
  mermaidFlowchart,
  mermaidId,
  mermaidNode,
  mermaidText,
  renderReadme,
  renderRunbook,
  tableRow,
} from '../scripts/docs';
import { startProbeWorker, type ProbeWorker } from './probe/worker';
import { ROOT, statusWhen, tempDir } from './helpers';

function meta(flow: FlowNode[], gates: RunbookMeta['gates'] = {}): RunbookMeta {
  return {
    name: 'sample',
    title: 'Sample',
    summary: 's',
    source: 's',
    input: {},
    gates,
    requires: [],
    stops: [],
    flow,
  };
}

describe('every runbook flow', () => {
  test.each(RUNBOOKS.map((r) => [r.name, r] as const))(
    '%s: starts at resolveTarget, every next exists, every node is reachable and leads to an end',
    (_name, runbook) => {
      expect(flowProblems(runbook)).toEqual([]);
    },
  );

  test('broken flows are named node by node', () => {
    const gate = { description: 'g', defaults: {} };
    expect(
      flowProblems(
        meta(
          [
            { id: 'resolveTarget', next: ['a', { to: 'missing', when: 'sometimes' }] },
            { id: 'a', next: ['end:done'] },
            { id: 'orphan', next: ['end:done'] },
            { id: 'loop', next: ['loop'] },
            { id: 'a', next: ['end:done'] },
            { id: 'end:done', next: ['a'] },
            { id: 'deadEnd' },
            { id: 'gate:unknown', hold: true, next: ['end:done'] },
          ],
          { approve: gate },
        ),
      ),
    ).toEqual([
      "sample.flow lists 'a' twice",
      "sample.flow: 'resolveTarget' goes to 'missing', which is not a node",
      "sample.flow: end 'end:done' has a next",
      "sample.flow: 'deadEnd' has no next (only 'end:<outcome>' nodes end a run)",
      "sample.flow: 'gate:unknown' is not a gate of meta.gates (approve)",
      "sample.flow: 'gate:unknown' cannot be a hold",
      "sample.flow does not list gate 'gate:approve'",
      "sample.flow: not reachable from 'resolveTarget': orphan, loop, deadEnd, gate:unknown",
    ]);
  });

  test('a flow must start at the engine’s first step and reach an end from every node', () => {
    expect(flowProblems(meta([]))).toEqual(["sample.flow is empty; it must start at 'resolveTarget'"]);
    expect(
      flowProblems(
        meta([
          { id: 'verify', next: ['resolveTarget'] },
          { id: 'resolveTarget', next: [{ to: 'spin', when: ' ' }, 'end:completed'] },
          { id: 'spin', next: ['spin'] },
          { id: 'end:completed' },
        ]),
      ),
    ).toEqual([
      "sample.flow starts at 'verify'; it must start at 'resolveTarget' (the engine's first step)",
      "sample.flow: 'resolveTarget' → 'spin' has an empty 'when'",
      'sample.flow: no way from these to an end: spin',
    ]);
  });
});

describe('Mermaid', () => {
  test('label text: quotes, #, HTML and backticks become entity codes; line breaks become spaces', () => {
    expect(mermaidText('he said "stop" (twice)\n  #1 <b>&</b> `x`')).toBe(
      'he said #quot;stop#quot; (twice) #35;1 #lt;b#gt;#amp;#lt;/b#gt; #96;x#96;',
    );
    // An entity code in the source text stays literal text, not a character.
    expect(mermaidText('#quot;')).toBe('#35;quot;');
    expect(mermaidText('a [b] {c} | d / e \\ f')).toBe('a [b] {c} | d / e \\ f');
  });

  test('ids: prefixed by kind (no keyword like end), other characters encoded so distinct names stay distinct', () => {
    expect(mermaidId('verifyPrimary')).toBe('step_verifyPrimary');
    expect(mermaidId('gate:restore')).toBe('gate_restore');
    expect(mermaidId('end:completed')).toBe('end_completed');
    expect(mermaidId('systemRestore', true)).toBe('hold_systemRestore');
    expect(mermaidId('end')).toBe('step_end');
    expect(mermaidId('a b:c')).toBe('step_a_20_b_3a_c');
    const names = ['a_b', 'a-b', 'a b', 'a_5f_b', 'gate:x', 'gate_x', 'end:x', 'é'];
    const ids = names.map((n) => mermaidId(n));
    expect(new Set(ids).size).toBe(names.length);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_]+$/);
  });

  test('shapes: step rectangle, gate hexagon, hold parallelogram, end stadium; labels quoted', () => {
    expect(mermaidNode({ id: 'copy', label: 'copy (offsite)' })).toBe('step_copy["copy<br/>copy (offsite)"]');
    expect(mermaidNode({ id: 'gate:restore', label: 'approve "it"' })).toBe(
      'gate_restore{{"gate:restore<br/>approve #quot;it#quot;"}}',
    );
    expect(mermaidNode({ id: 'systemRestore', hold: true })).toBe('hold_systemRestore[/"systemRestore"/]');
    expect(mermaidNode({ id: 'end:intact', label: '#1' })).toBe('end_intact(["end:intact<br/>#35;1"])');
  });

  test('a flowchart: nodes in order, then edges with quoted, escaped branch labels', () => {
    expect(
      mermaidFlowchart([
        { id: 'resolveTarget', next: [{ to: 'wait', when: 'no "backup" (#1)' }, 'end:done'] },
        { id: 'wait', hold: true, label: 'run System Restore', next: ['gate:go'] },
        { id: 'gate:go', next: ['end:done'] },
        { id: 'end:done' },
      ]),
    ).toBe(
      [
        'flowchart TD',
        '  step_resolveTarget["resolveTarget"]',
        '  hold_wait[/"wait<br/>run System Restore"/]',
        '  gate_go{{"gate:go"}}',
        '  end_done(["end:done"])',
        '  step_resolveTarget -->|"no #quot;backup#quot; (#35;1)"| hold_wait',
        '  step_resolveTarget --> end_done',
        '  hold_wait --> gate_go',
        '  gate_go --> end_done',
      ].join('\n'),
    );
  });

  test('no quoted label in the generated charts holds a raw quote or an unescaped #', () => {
    for (const runbook of RUNBOOKS) {
      for (const line of mermaidFlowchart(runbook.flow).split('\n').slice(1)) {
        const quoted = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
        expect(line.replace(/"[^"]*"/g, '')).not.toContain('"');
        for (const text of quoted) expect(text.replace(/#(\d+|quot|amp|lt|gt);/g, '')).not.toContain('#');
      }
    }
  });
});

describe('Markdown', () => {
  test('prose, code and table cells are escaped', () => {
    expect(markdownText('chain_backups/*.json <dir> [x] `y` ~z \\')).toBe(
      'chain\\_backups/\\*.json \\<dir\\> \\[x\\] \\`y\\` \\~z \\\\',
    );
    expect(markdownCode('a`b')).toBe('``a`b``');
    expect(markdownCode('`')).toBe('`` ` ``');
    expect(tableRow(['`a|b`', 'c'])).toBe('| `a\\|b` | c |');
  });

  test('objectives and gate policies read as an operator says them', () => {
    expect([
      formatMinutes(5 / 60),
      formatMinutes(15),
      formatMinutes(60),
      formatMinutes(1440),
      formatMinutes(90),
    ]).toEqual(['5 s', '15 min', '1 h', '24 h', '90 min']);
    expect(gatePolicyText({ description: '', defaults: {} })).toBe('1 approval by anyone; no timeout');
    expect(gatePolicyText({ description: '', defaults: { automatic: true } })).toBe('opens automatically');
    expect(
      gatePolicyText({
        description: '',
        defaults: { approvers: ['alice', 'bob'], quorum: 2, timeoutSeconds: 600, onTimeout: 'proceed' },
      }),
    ).toBe('2 distinct approvals by `alice`, `bob`; after 600 s: proceeds');
  });

  test("a runbook's section: summary, source, objectives, input fields with target, gates, STOPs, config, chart", () => {
    const restore = RUNBOOKS.find((r) => r.name === 'restore')!;
    const section = renderRunbook(restore);
    expect(section).toMatch(
      /^## restore\n\n\*\*Restore a storage root from a backup\.\*\* Verifies the backup/,
    );
    expect(section).toContain('- Source procedure: 003\\_8b72c7da6d2bed8c.txt — §6 restore types');
    expect(section).toContain('- Objectives: RTO 1 h, RPO not set');
    expect(section).toContain('- Config sections the target needs: `root`, `repository`, `encryption`');
    expect(section).toContain('| `target` | `string` | yes |  | name of a target in the worker config |');
    expect(section).toContain(
      "| `backupId` | `string` | no |  | the backup to restore: 'latest' (default), a backup id, or a day YYYY-MM-DD (the newest backup taken that day, UTC) |",
    );
    expect(section).toContain('| `paths` | `string[]` | no |');
    expect(section).toContain(
      '| `restore` | before the live root is replaced (or the inspection folder written) | 1 approval by anyone; no timeout |',
    );
    for (const stop of restore.stops) expect(section).toContain(`- ${markdownText(stop)}`);
    expect(section).toContain('```mermaid\nflowchart TD\n  step_resolveTarget');
    expect(section).toContain('  gate_restore -->|"into the live root"| step_acquireLock');

    const enumField = renderRunbook({
      ...restore,
      input: { mode: { type: 'string', enum: ['a', 'b|c'], description: 'x', required: true } },
      checksInput: true,
    });
    expect(enumField).toContain('| `mode` | `string` | yes | `a`, `b\\|c` | x |');
    expect(enumField).toContain('checked against the worker');
  });

  test('the page: an index linking every runbook, then a section per runbook in catalogue order', () => {
    const page = renderReadme(RUNBOOKS);
    const sections = [...page.matchAll(/^## (\S+)$/gm)].map((m) => m[1]);
    expect(sections).toEqual(RUNBOOKS.map((r) => r.name));
    for (const r of RUNBOOKS) expect(page).toContain(`| [${r.name}](#${r.name.toLowerCase()}) |`);
    expect(renderReadme(RUNBOOKS)).toBe(page);
    expect(() => renderReadme([meta([{ id: 'resolveTarget', next: ['nowhere'] }])])).toThrow(
      "cannot draw the runbooks' flows:\n- sample.flow: 'resolveTarget' goes to 'nowhere', which is not a node",
    );
  });
});

function docs(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--require', 'tsx/cjs', path.join(ROOT, 'scripts', 'docs.ts'), ...args],
      {
        cwd: ROOT,
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run docs', () => {
  test('the committed runbooks/README.md is what npm run docs writes', async () => {
    const result = await docs(['--check']);
    // The generator's own message: "runbooks/README.md is out of date: run npm run docs".
    if (result.code !== 0) throw new Error(result.stderr.trim() || `docs --check exited with ${result.code}`);
    expect(result.stdout).toContain('runbooks/README.md is up to date');
  });

  test('--check fails on a stale file and writes nothing; without --check it writes the page', async () => {
    const dir = tempDir('docs');
    const file = path.join(dir, 'README.md');
    const committed = fs.readFileSync(path.join(ROOT, 'runbooks', 'README.md'), 'utf8');
    const stale = committed.replace('find the target in the worker config', 'find the target');
    fs.writeFileSync(file, stale);

    const check = await docs(['--check', '--file', file]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`${file} is out of date: run npm run docs`);
    expect(fs.readFileSync(file, 'utf8')).toBe(stale);

    const write = await docs(['--file', file]);
    expect(write.code).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe(committed);
    expect((await docs(['--check', '--file', file])).code).toBe(0);
    expect(await docs(['--bogus'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("unknown argument '--bogus'"),
    });
  });
});

describe('the engine holds a run to its flow', () => {
  let probe: ProbeWorker;
  let dir: string;
  let client: Client;
  let taskQueue: string;

  beforeAll(async () => {
    probe = await startProbeWorker(require.resolve('./probe/drift'), 'drift');
    ({ dir, client, taskQueue } = probe);
  });

  afterAll(async () => {
    await probe?.stop();
  });

  function start(scenario: string, marker = path.join(dir, `${scenario}.marker`)) {
    return client.workflow.start('driftProbe', {
      taskQueue,
      workflowId: `drift-${scenario}-${Math.random().toString(36).slice(2, 8)}`,
      args: [{ target: 'probe', scenario, marker }],
    });
  }

  test('a run that uses only what its flow lists completes', async () => {
    const marker = path.join(dir, 'declared.marker');
    const handle = await start('declared', marker);
    await statusWhen(client, handle.workflowId, (s) => s.waiting?.step === 'listedHold', 'the hold');
    await handle.executeUpdate(retryUpdate, { args: [{ actor: 'alice', comment: 'done by hand' }] });
    const outcome = (await handle.result()) as RunOutcome<{ outcome: string }>;
    expect(outcome.state).toBe('completed');
    expect(outcome.result).toEqual({ outcome: 'done' });
    expect(outcome.status.steps.map((s) => s.name)).toEqual([
      'resolveTarget',
      'listedStep',
      'gate:listedGate',
      'listedHold',
    ]);
    expect(fs.readFileSync(marker, 'utf8')).toBe('written');
  });

  test.each([
    ['undeclaredStep', "its meta.flow does not list step 'undeclaredStep'"],
    ['undeclaredGate', "its meta.flow does not list gate 'gate:unlistedGate'"],
    ['undeclaredHold', "its meta.flow does not list hold 'undeclaredHold'"],
    ['stepAsHold', "its meta.flow lists 'listedStep' as a step, but the run uses it as a hold"],
    ['undeclaredEnd', "its meta.flow does not list end 'end:undeclared'"],
  ])(
    '%s fails the run at once, non-retryably, as a RunbookBug naming runbook and name',
    async (scenario, problem) => {
      const marker = path.join(dir, `${scenario}.marker`);
      const handle = await start(scenario, marker);
      const err = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(cause).toMatchObject({
        type: 'RunbookBug',
        nonRetryable: true,
        message: `runbook driftProbe: ${problem}; fix the flow, then run npm run docs`,
      });
      // Nothing under the undeclared name ran.
      expect(fs.existsSync(marker)).toBe(false);
    },
  );
});
