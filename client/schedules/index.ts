/**
 * Runbooks on Temporal Schedules, shared by the `lifeboat schedule …` commands and the tests.
 *
 * A schedule starts one runbook against one target on task queue `lifeboat`; its workflow ids start
 * with `<runbook>-<target>` (the server appends the scheduled time). Runs never overlap: within a
 * schedule the overlap policy is SKIP, and across schedules of one target the runbooks that take the
 * target's lock get `onBusy: 'skip'`, so a run that finds the target busy ends as skipped instead of
 * waiting for a person. The schedule's memo and search attributes name the runbook and target, for
 * `schedule list` and the Temporal UI's Schedules page.
 *
 * spec.ts checks when a schedule runs, create.ts creates one, find.ts finds and lists them, and
 * preset.ts creates the procedure's cadence for a target.
 */
export * from './spec';
export * from './create';
export * from './find';
export * from './preset';
