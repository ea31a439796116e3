/**
 * A real Temporal Server on a real PostgreSQL 15 (test/temporal-server.ts): it answers, the
 * `default` namespace has Lifeboat's search attributes, and a workflow started with them is found by
 * a visibility query on them (visibility in PostgreSQL), then terminated.
 */
import { Client, Connection } from '@temporalio/client';
import { SA_RUNBOOK_NAME, SA_RUNBOOK_STATE, SEARCH_ATTRIBUTES } from '../common/constants';
import { eventually } from './helpers';
import { startPostgres, type TestPostgres } from './postgres';
import { startTemporalServer, type TemporalServer } from './temporal-server';

let pg: TestPostgres | undefined;
let server: TemporalServer | undefined;
let connection: Connection | undefined;

beforeAll(async () => {
  pg = await startPostgres('tserver');
  server = await startTemporalServer(pg, 'tserver');
  connection = await Connection.connect({ address: server.address });
}, 120_000);

afterAll(async () => {
  await connection?.close();
  await server?.stop();
  pg?.stop();
}, 30_000);

test('a Temporal Server on PostgreSQL has the default namespace with Lifeboat’s search attributes', async () => {
  const client = new Client({ connection: connection!, namespace: 'default' });
  const ns = await client.workflowService.describeNamespace({ namespace: 'default' });
  expect(ns.namespaceInfo?.name).toBe('default');

  const listed = await client.connection.operatorService.listSearchAttributes({ namespace: 'default' });
  const custom = listed.customAttributes ?? {};
  for (const sa of SEARCH_ATTRIBUTES) expect(Object.keys(custom)).toContain(sa.name);

  // Nothing polls this queue: the run only needs to exist, with its search attributes, in visibility.
  const probe = `tserver-probe-${Date.now()}`;
  const handle = await client.workflow.start('lifeboatServerProbe', {
    taskQueue: probe,
    workflowId: probe,
    typedSearchAttributes: [
      { key: SA_RUNBOOK_NAME, value: probe },
      { key: SA_RUNBOOK_STATE, value: 'running' },
    ],
  });
  const found = await eventually(async () => {
    const ids: string[] = [];
    for await (const wf of client.workflow.list({
      query: `RunbookName = "${probe}" AND RunbookState = "running"`,
    }))
      ids.push(wf.workflowId);
    return ids.length > 0 ? ids : undefined;
  }, 'the probe run in visibility');
  expect(found).toEqual([probe]);
  await handle.terminate('probe done');
  const described = await handle.describe();
  expect(described.status.name).toBe('TERMINATED');
  expect(server!.output()).not.toMatch(/"level":"(fatal|panic)"/);
});
