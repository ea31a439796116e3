/**
 * lostAuthTokens — procedure 001 (§3.2, §4.2): the auth token file is missing or unreadable
 * (AUTH-003). An unreadable file is moved to quarantine (kept, never read into anything); the
 * target's `disconnect` command, when it has one, puts the application's auth state to
 * Disconnected; then the run holds until a person has signed in again, and checks the new token:
 * written by a rename (no temp file left beside it), a JSON object.
 * A stop puts the quarantined file back unless a new token is already in its place.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { RunbookMeta } from '../common/runbook';
import { runTagOf } from '../common/tags';
import { runRunbook } from '../workflows/engine';

export const meta: RunbookMeta = {
  name: 'lostAuthTokens',
  title: 'Lost auth tokens',
  summary:
    'Checks the auth token file; when it is missing or unreadable (AUTH-003), keeps an unreadable one in quarantine, disconnects the application (its disconnect command, if configured), waits for a person to sign in again, and checks the new token was written atomically and parses. Never shows a token.',
  source: '001_3fc6a84b3909d4a8.txt — §3.2 (auth token backup), §4.2 (lost auth tokens)',
  // The procedure: < 30 seconds (re-auth prompt); the prompt is the hold, the person is the rest.
  objectives: { rtoMinutes: 0.5 },
  input: {},
  gates: {},
  requires: ['authTokens'],
  stops: [
    'the token file is missing or unreadable: a person signs in again (a hold), then retry',
    'the new token file is missing, unreadable, or has a temp file beside it (not written atomically)',
    "the target's disconnect command fails",
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['checkTokens'] },
    {
      id: 'checkTokens',
      label: 'check the token file (never reading it into anything)',
      next: [
        { to: 'end:intact', when: 'a JSON object of tokens' },
        { to: 'quarantineTokens', when: 'unreadable (AUTH-003)' },
        { to: 'disconnect', when: 'missing (AUTH-003)' },
      ],
    },
    {
      id: 'quarantineTokens',
      label: 'move the unreadable file into the incident’s quarantine folder',
      next: ['disconnect'],
    },
    {
      id: 'disconnect',
      label: "put the application's auth state to Disconnected (its disconnect command, if configured)",
      next: ['reauthenticate'],
    },
    {
      id: 'reauthenticate',
      label: 'a person signs in again from the application; retry when done',
      hold: true,
      next: ['verifyNewTokens'],
    },
    {
      id: 'verifyNewTokens',
      label: 'check the new token: written by a rename (no temp file beside it), a JSON object',
      next: ['end:reauthenticated'],
    },
    { id: 'end:intact', label: 'nothing changed' },
    { id: 'end:reauthenticated', label: 'a new token is in place' },
  ],
};

export interface LostAuthTokensInput {
  target: string;
}

export async function lostAuthTokens(input: LostAuthTokensInput) {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const check = await run.step('checkTokens', 'checkTokenFile', [target, {}]);
    if (check.state === 'valid') return { outcome: 'intact' as const, file: check.file };

    const why = check.state === 'missing' ? 'is missing' : `is unreadable: ${check.problem}`;
    run.fact('tokens', { state: check.state, problem: check.problem });
    // The procedure's alert AUTH-003.
    run.record('auth.tokensLost', {
      alert: 'AUTH-003',
      file: check.file,
      state: check.state,
      problem: check.problem,
    });
    run.notify('alert', `AUTH-003: the token file ${check.file} ${why}`, { details: { alert: 'AUTH-003' } });

    const info = workflowInfo();
    const incident = runTagOf(info.startTime, info.runId);
    let quarantined: string | undefined;
    if (check.state === 'unreadable') {
      const moved = await run.step('quarantineTokens', 'quarantineTokenFile', [target, incident], {
        // A stop puts it back, unless a new sign-in has written a token in its place.
        compensation: { name: 'putTokenFileBack', activity: 'putTokenFileBack', args: [target, incident] },
      });
      quarantined = moved.quarantined;
      run.fact('quarantined', quarantined);
    }
    await run.step('disconnect', 'runTargetCommand', [target, 'disconnect']);

    await run.hold(
      'reauthenticate',
      `the token file ${check.file} ${why}${quarantined ? ` (kept in quarantine as ${quarantined})` : ''}; sign in again (${check.reauthenticate}); then retry, and the run checks the new token`,
      'TokensLost',
    );
    const fresh = await run.step('verifyNewTokens', 'checkTokenFile', [target, { require: true }]);
    return {
      outcome: 'reauthenticated' as const,
      file: fresh.file,
      was: check.state,
      ...(quarantined ? { quarantined } : {}),
      writtenAt: fresh.modifiedAt,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
lostAuthTokens.meta = meta;
