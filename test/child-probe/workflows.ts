/**
 * Probe runbooks for `run.child()` (test/engine-child.test.ts): a parent that runs the child under
 * the step its flow lists, or under one it does not list, and a child that ends with an outcome.
 */
import type { RunbookMeta } from '../../common/runbook';
import { runRunbook } from '../../workflows/engine';

const base = { title: 'probe', summary: 'test-only', source: 'test', gates: {}, requires: [], stops: [] };

export const kidMeta: RunbookMeta = {
  ...base,
  name: 'kidProbe',
  input: { word: { type: 'string', required: true, description: 'what the child answers' } },
  flow: [{ id: 'resolveTarget', next: ['end:answered'] }, { id: 'end:answered' }],
};

export async function kidProbe(input: { target: string; word: string }) {
  return runRunbook(kidMeta, input, async () => ({ outcome: 'answered', word: input.word }));
}

export const parentMeta: RunbookMeta = {
  ...base,
  name: 'parentProbe',
  input: { listed: { type: 'boolean', required: true, description: 'run the child under the listed step' } },
  flow: [
    { id: 'resolveTarget', next: ['kid'] },
    { id: 'kid', label: 'run kidProbe as a child', next: ['end:completed'] },
    { id: 'end:completed' },
  ],
};

export async function parentProbe(input: { target: string; listed: boolean }) {
  return runRunbook(parentMeta, input, async (run) => {
    const name = input.listed ? 'kid' : 'unlistedKid';
    const report = await run.child(
      name,
      'kidProbe',
      { target: run.target.name, word: 'hello' },
      {
        workflowId: `${run.status.runbook}-${Math.floor(Date.now())}-kid`,
        fact: { note: 'a probe' },
      },
    );
    return { report };
  });
}
