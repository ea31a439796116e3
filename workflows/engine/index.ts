/** The runbook kit; see run.ts for how a runbook is written with it. */
export { runRunbook, RunbookRun, type StepOptions, type Compensation, type ActivityName } from './run';
export { checkApprove, checkRetry, checkSkip, checkStop } from './decisions';
export { nowIso } from './failure';
