/**
 * The Temporal Web UI in a real browser (Debian's Chromium through playwright-core), as an operator
 * uses it: start corruptedStoreRecovery from the UI's Start Workflow form with JSON input on task
 * queue `lifeboat`, find the run with the `AwaitingHuman = true` filter, read on the run's own
 * page why it waits, what approving will do and what to send; send a Signal the run refuses and see
 * why on the page; approve with an Update carrying the payload copied from the page; and see the
 * outcome and the approver. The screenshots it takes are the README's.
 *
 * This file runs its own dev server with the UI on (the suite's is headless and shared), so that
 * the lists show this file's runs only and the worker can poll the real task queue name.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DEFAULT_TASK_QUEUE, SEARCH_ATTRIBUTES } from '../common/constants';
import { writeStoreFixture, type StoreFixture } from '../scripts/demo-data';
import { freePort } from './ports';
import {
  eventually,
  quietRuntime,
  startWorker,
  statusWhen,
  storeTargetConfig,
  tempDir,
  writeConfig,
  type TestWorker,
} from './helpers';
import { launchChromium, localContext, reloadUntilVisible, saveFailure, screenshot } from './ui-helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { findTemporalCli } = require('../scripts/setup.js') as { findTemporalCli: () => string };

const TARGET = 'knowledge-graph';
const NAMESPACE = 'default';

let server: TestWorkflowEnvironment | undefined;
let address: string;
let ui: string;
let tw: TestWorker | undefined;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let store: StoreFixture;

beforeAll(async () => {
  const port = await freePort();
  const uiPort = await freePort();
  quietRuntime(); // before the SDK's runtime starts with the server below
  server = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: findTemporalCli() },
      ip: '127.0.0.1',
      port,
      ui: true,
      uiPort,
      searchAttributes: SEARCH_ATTRIBUTES,
      // No newsfeed: the UI then makes no request beyond its own server.
      extraArgs: ['--log-level', 'error', '--ui-disable-news-fetch'],
    },
  });
  address = `127.0.0.1:${port}`;
  ui = `http://127.0.0.1:${uiPort}`;
  // startWorker() and lifeboat() (test/helpers) reach the server named here: this file's own.
  process.env.LIFEBOAT_TEST_ADDRESS = address;

  const dir = tempDir('ui');
  store = writeStoreFixture(path.join(dir, TARGET), 'corrupt', ['intact']);
  writeStoreFixture(path.join(dir, 'intact-store'), 'intact', ['intact']);
  const { config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: {
      [TARGET]: {
        description: 'knowledge-graph store',
        ...storeTargetConfig(path.join(dir, TARGET), { restore: { approvers: ['ui-test'] } }),
      },
      'intact-store': storeTargetConfig(path.join(dir, 'intact-store')),
    },
  });
  tw = await startWorker(config, DEFAULT_TASK_QUEUE);
  // The Start Workflow form looks the task queue up once: let the server see the worker first.
  await eventually(async () => {
    const { pollers } = await tw!.client.workflowService.describeTaskQueue({
      namespace: NAMESPACE,
      taskQueue: { name: DEFAULT_TASK_QUEUE },
      taskQueueType: 1, // temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
    });
    return pollers && pollers.length > 0 ? true : undefined;
  }, 'the worker to poll the task queue');

  browser = await launchChromium();
  context = await localContext(browser);
  context.setDefaultTimeout(20000);
  page = await context.newPage();
}, 60000);

afterAll(async () => {
  await browser?.close();
  await tw?.stop();
  await server?.teardown();
});

/** Waits until the server's `AwaitingHuman = true` list does (or does not) hold the run. */
function inAwaitingHumanList(workflowId: string, listed: boolean): Promise<true> {
  return eventually(
    async () => {
      for await (const run of tw!.client.workflow.list({ query: 'AwaitingHuman = true' }))
        if (run.workflowId === workflowId) return listed || undefined;
      return !listed || undefined;
    },
    `${workflowId} ${listed ? 'in' : 'out of'} the AwaitingHuman = true list`,
  );
}

/** Runs one part of the walk-through; when it fails, keeps what the page showed. */
async function part(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    await saveFailure(page, name);
    throw err;
  }
}

test('an operator starts a recovery from the UI, finds it waiting for approval, and sees it complete', async () => {
  const workflowId = `restore-${TARGET}-${Math.random().toString(36).slice(2, 8)}`;
  const input = { target: TARGET };
  const workflows = `${ui}/namespaces/${NAMESPACE}/workflows`;

  await part('start-form', async () => {
    await page.goto(workflows);
    await page.getByRole('link', { name: 'Start Workflow' }).click();
    await page.waitForURL(/\/workflows\/start-workflow/);
    // The form keeps its fields in the page address once a field loses focus; wait for that, or a
    // re-render may clear what was typed.
    await page.getByLabel('Workflow ID').fill(workflowId);
    await page.getByLabel('Task Queue').fill(DEFAULT_TASK_QUEUE);
    await page.getByLabel('Workflow Type').fill('corruptedStoreRecovery');
    await page.getByLabel('Workflow Type').press('Tab');
    await page.waitForURL((url) => url.searchParams.get('workflowType') === 'corruptedStoreRecovery');
    // The form looks the task queue up: the worker of this test polls it.
    await page.getByText(/Task Queue is Active/i).waitFor();

    // Input is a CodeMirror editor: click into it and type (inserted as one text, so that the
    // editor's bracket auto-closing does not add a second brace).
    const data = page.getByRole('textbox', { name: 'Data' });
    await data.click();
    await page.keyboard.insertText(JSON.stringify(input));
    await page.getByRole('heading', { name: 'Start Workflow' }).click(); // leaves the editor
    expect(JSON.parse(await data.innerText())).toEqual(input);
    await expect(page.getByRole('radio', { name: 'json/plain' }).isChecked()).resolves.toBe(true);
    await screenshot(page, 'ui-start-workflow', { width: 1100, height: 1000 });

    const started = page.waitForResponse(
      (r) => r.request().method() === 'POST' && r.url().includes(`/workflows/${workflowId}`),
    );
    await page.getByRole('button', { name: 'Start Workflow' }).click();
    expect((await started).status()).toBe(200);
    await page.getByRole('link', { name: 'Workflow started successfully' }).waitFor();
  });

  // What the UI sent is what the workflow got: the run waits at the restore gate for the target.
  const waiting = await statusWhen(tw!.client, workflowId, (s) => s.state === 'waiting', 'the run to wait');
  expect(waiting).toMatchObject({ runbook: 'corruptedStoreRecovery', target: TARGET });
  expect(waiting.waiting).toMatchObject({ gate: 'restore' });

  // A run that never waits, to show that the filter tells them apart.
  const intactId = `check-intact-store-${Math.random().toString(36).slice(2, 8)}`;
  await tw!.client.workflow.execute('corruptedStoreRecovery', {
    taskQueue: DEFAULT_TASK_QUEUE,
    workflowId: intactId,
    args: [{ target: 'intact-store' }],
  });

  // The list reads the server's visibility store, which follows the run a moment later.
  await inAwaitingHumanList(workflowId, true);

  await part('awaiting-list', async () => {
    await page.goto(workflows);
    const row = page.getByRole('row').filter({ hasText: workflowId });
    const intactRow = page.getByRole('row').filter({ hasText: intactId });
    await reloadUntilVisible(page, intactRow, `${intactId} in the list of all workflows`);
    await row.waitFor();
    // The filter, typed as an operator does: the raw query field behind the list's </> button.
    await page.getByTestId('toggle-manual-query').click();
    await page.getByPlaceholder('Enter a query').fill('AwaitingHuman = true');
    await page.getByPlaceholder('Enter a query').press('Enter');
    await page.waitForURL((url) => url.searchParams.get('query') === 'AwaitingHuman = true');
    await intactRow.waitFor({ state: 'detached' });
    await row.waitFor();
    // Lifeboat's search attributes as columns, the way an operator sets the table up once.
    await page.getByRole('button', { name: 'Configure Columns' }).click();
    await page.getByRole('button', { name: 'Add RunbookState column' }).click();
    await page.getByRole('button', { name: 'Add RunbookTarget column' }).click();
    await page.getByRole('button', { name: 'Remove Run ID column' }).click();
    await page.getByRole('button', { name: 'Remove End column' }).click();
    await page.getByRole('button', { name: 'Close Workflows Table configuration' }).click();
    await page.getByRole('columnheader', { name: 'RunbookState' }).waitFor();

    const cells = (await row.first().getByRole('cell').allInnerTexts()).map((t) => t.trim());
    expect(cells).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^running$/i),
        'corruptedStoreRecovery',
        'waiting',
        TARGET,
      ]),
    );
    expect(await intactRow.count()).toBe(0);
    await screenshot(page, 'ui-awaiting-approval', { width: 1600, height: 700 });
  });

  const runPage = `${workflows}/${encodeURIComponent(workflowId)}`;
  /** The run page's User Metadata tab: its summary, details and current details. */
  const metadataTab = async () => {
    await page.getByRole('tab', { name: 'User Metadata' }).click();
    await page.getByText('Current Details', { exact: true }).first().waitFor();
  };
  /** Sends a Signal or an Update from the run page's More Actions menu, as a responder does. */
  const send = async (kind: 'Signal' | 'Update', name: string, data: string, refused?: RegExp) => {
    await page.getByRole('button', { name: 'More Actions' }).click();
    await page.getByRole('menuitem', { name: `Send a${kind === 'Update' ? 'n' : ''} ${kind}` }).click();
    const dialog = page.getByRole('dialog', { name: `Send a${kind === 'Update' ? 'n' : ''} ${kind}` });
    await dialog.getByTestId(`${kind.toLowerCase()}-select-button`).click();
    // The drop-down shows each handler's description: what it does and the input it takes.
    const option = dialog.getByRole('option', { name: new RegExp(`^${name}\\b`) });
    expect(await option.innerText()).toContain('Input: {"actor": "<your name>"');
    await option.click();
    await dialog.getByRole('textbox', { name: 'Data' }).click();
    await page.keyboard.press('Control+A'); // the form keeps what was typed the last time
    await page.keyboard.insertText(data);
    // Leave the editor first: it reformats the JSON on blur, and a click that blurs it is spent on that.
    await dialog.getByText('Single JSON payload supported.').click();
    await dialog.getByRole('button', { name: 'Submit' }).click();
    if (refused) {
      // An Update the run refuses: the form says why, and stays open.
      await dialog.getByText(refused).first().waitFor();
      await screenshot(page, 'ui-refused-update', { width: 1600, height: 1000 });
      await dialog.getByTestId('cancel-modal-button').click();
    }
    await dialog.waitFor({ state: 'hidden' });
  };

  /** What the page's markdown panels show (the UI renders each in a frame of its own). */
  const panels = async () => {
    const texts = await Promise.all(
      page
        .frames()
        .filter((f) => f !== page.mainFrame())
        .map((f) =>
          f
            .locator('body')
            .innerText()
            .catch(() => ''),
        ),
    );
    return texts.join('\n');
  };
  /** The panels once they have rendered (a loaded machine renders the frames slowly: up to 15 s). */
  const renderedPanels = async () => {
    const until = Date.now() + 15000;
    for (;;) {
      const text = await panels();
      if (text.trim() !== '' || Date.now() > until) return text;
      await page.waitForTimeout(250);
    }
  };
  /**
   * Waits until the run page's panels show `pattern`, reloading as the UI's "R for freshness" does;
   * each reload waits for the panels to render before it reads them, so a slow render is not taken
   * for an empty page.
   */
  const panelsShow = async (pattern: RegExp, what: string): Promise<string> => {
    const deadline = Date.now() + 60000;
    for (;;) {
      const text = await renderedPanels();
      if (pattern.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`the run page did not show ${what}; it showed:\n${text}`);
      await page.waitForTimeout(1000);
      await page.reload();
      await metadataTab();
    }
  };

  let payload = '';
  await part('run-page-waiting', async () => {
    await page.setViewportSize({ width: 1600, height: 1400 });
    await page.goto(runPage);
    await metadataTab();
    // The page says, without any JSON to read: a person is needed, at which gate, why, what
    // approving will do, who may approve, and what to send.
    const text = await panelsShow(/A person is needed: approve gate restore\?/, 'the waiting gate');
    expect(text).toMatch(/Approving will: moves the corrupt primary .*graph\.json/);
    expect(text).toMatch(/Approvals: 0 of 1; may approve: ui-test/);
    expect(text).toMatch(/Decisions allowed now: approve, stop\./);
    payload = /\{"actor": "<your name>", "comment": "<optional>"\}/.exec(text)![0];
    await screenshot(page, 'ui-run-page-waiting', { width: 1600, height: 1400 });
  });

  await part('refused-signal', async () => {
    // A signal without the responder's name: the UI says "signaled"; the run refuses it, and its
    // page says so, and why.
    await send('Signal', 'approve', '{"comment": "looks fine"}');
    await page.getByText('Workflow signaled.').first().waitFor();
    await panelsShow(/Last refused decision — approve from unknown at .*: actor is required/, 'the refusal');
    await screenshot(page, 'ui-refused-signal', { width: 1600, height: 1000 });
  });

  await part('approve-update', async () => {
    // The payload copied from the page as it is: refused at once, the form says why.
    await send('Update', 'approve', payload, /actor is still the placeholder <your name>/);
    // With the responder's name in it, sent as an Update.
    await send(
      'Update',
      'approve',
      payload.replace('<your name>', 'ui-test').replace('<optional>', 'backup checked'),
    );
    await tw!.client.workflow.getHandle(workflowId).result();
    await page.goto(runPage);
    await reloadUntilVisible(
      page,
      page.getByText('Completed', { exact: true }),
      `${workflowId} as Completed`,
    );
    await metadataTab();
    const text = await panelsShow(/COMPLETED[^]*Outcome: restored at /, 'the outcome');
    expect(text).toMatch(/Approved by: ui-test \(gate restore, /);
    expect(text).toMatch(/ui-test approve gate restore — backup checked/);
    await screenshot(page, 'ui-run-page-completed', { width: 1600, height: 1000 });
  });
  await inAwaitingHumanList(workflowId, false);

  await part('completed-run', async () => {
    await page.getByRole('tab', { name: /Event History/ }).click();
    await page.getByText('Workflow Execution Completed').first().waitFor();
    // The compact history: one line per activity and per decision, the approval among them.
    await page.getByRole('button', { name: 'Compact' }).click();
    const approval = page.getByRole('row').filter({ hasText: 'Workflow Update' });
    await approval.first().waitFor();
    expect(await approval.first().innerText()).toMatch(/approve/);
    await screenshot(page, 'ui-completed-history', { width: 1600, height: 1400 });

    // Approved, it leaves the list of what waits for a person.
    await page.goto(`${workflows}?query=${encodeURIComponent('AwaitingHuman = true')}`);
    await reloadUntilVisible(page, page.getByText(/No Workflows/i), 'an empty AwaitingHuman = true list');
  });

  // The recovery did what the operator approved: the primary is the intact backup's bytes.
  const backup = Object.keys(store.contents).find((f) => f.startsWith(store.backups) && f.endsWith('.json'))!;
  expect(fs.readFileSync(store.primary)).toEqual(store.contents[backup]);
}, 90000);
