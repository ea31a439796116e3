/**
 * Constants shared by workflows, activities, the worker, the CLI and the tests.
 * Free of Node-only imports: this module is bundled into the workflow sandbox.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The task queue every Lifeboat worker polls unless `LIFEBOAT_TASK_QUEUE` says otherwise. */
export const DEFAULT_TASK_QUEUE = 'lifeboat';
export const DEFAULT_ADDRESS = 'localhost:7233';
export const DEFAULT_NAMESPACE = 'default';
/** The built-in target whose backups hold Lifeboat's own stores (the audit ledger and the catalog). */
export const SELF_TARGET = 'lifeboat-self';

export const SA_RUNBOOK_NAME = defineSearchAttributeKey('RunbookName', SearchAttributeType.KEYWORD);
export const SA_RUNBOOK_TARGET = defineSearchAttributeKey('RunbookTarget', SearchAttributeType.KEYWORD);
export const SA_RUNBOOK_STATE = defineSearchAttributeKey('RunbookState', SearchAttributeType.KEYWORD);
export const SA_AWAITING_HUMAN = defineSearchAttributeKey('AwaitingHuman', SearchAttributeType.BOOL);

/** Set by Temporal on a run a Schedule started: the schedule's id. */
export const SA_SCHEDULED_BY = defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD);

/** Every custom search attribute Lifeboat needs registered on the namespace. */
export const SEARCH_ATTRIBUTES = [SA_RUNBOOK_NAME, SA_RUNBOOK_TARGET, SA_RUNBOOK_STATE, SA_AWAITING_HUMAN];

export const RUN_STATES = ['running', 'waiting', 'completed', 'stopped', 'failed'] as const;
export type RunState = (typeof RUN_STATES)[number];
