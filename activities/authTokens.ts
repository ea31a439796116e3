/**
 * Activities for an "authTokens" target (procedure 001 §3.2, §4.2): the application's auth token
 * file. They tell whether it is missing or unreadable, keep an unreadable one in quarantine (moved,
 * never deleted, never read into anything), and check that the token a person wrote by signing in
 * again is whole: written by a rename (no temp file left beside it), and a JSON object.
 *
 * Why nothing here quotes the file: a token is a secret. Results, errors and the audit name the
 * file, its size, its time and what is wrong with it in words of our own (jsonSyntax.ts never
 * quotes the text around a syntax error), never a byte of it.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { LifeboatConfig } from '../config';
import { stopFailure } from './errors';
import { exists, fsyncDir, preserveCopy } from './lib/files';
import { jsonSyntaxError } from './lib/jsonSyntax';
import { incidentFolder } from './lib/replace';
import { sectionOf } from './targets';

export interface TokenVerdict {
  file: string;
  state: 'valid' | 'missing' | 'unreadable';
  /** Why it is unreadable, in words that never quote it. */
  problem?: string;
  size?: number;
  modifiedAt?: string;
  /** Temp files beside it that a write left behind (names only). */
  leftovers?: string[];
  /** How a person re-authenticates (the target's `reauthenticate`). */
  reauthenticate?: string;
}

/** What is wrong with a token file's text, never quoting it; undefined when it is a JSON object. */
function tokenTextProblem(text: string): string | undefined {
  if (text.trim() === '') return 'it is empty';
  const syntax = jsonSyntaxError(text);
  if (syntax) return `it is not JSON (line ${syntax.line}, column ${syntax.column}: ${syntax.message})`;
  const value = JSON.parse(text) as unknown;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return 'it is JSON but not an object of tokens';
  if (Object.keys(value).length === 0) return 'it holds no token (an empty object)';
  return undefined;
}

/** Files beside `file` that look like an unfinished write of it (`.tokens.json.*`, `tokens.json.tmp*`, …). */
async function leftoversOf(file: string): Promise<string[]> {
  const base = path.basename(file);
  const names = await fsp.readdir(path.dirname(file)).catch(() => [] as string[]);
  return names
    .filter(
      (n) => n !== base && (n.startsWith(`.${base}`) || n.startsWith(`${base}.`) || n.startsWith(`${base}~`)),
    )
    .filter((n) => /(tmp|temp|part|new|swp|~)/i.test(n))
    .sort();
}

/**
 * Moves `from` to `to` by rename (a file or whatever stands in its place), made durable; across
 * file systems, a synced copy first, then the original removed.
 */
async function move(from: string, to: string): Promise<void> {
  await fsp.mkdir(path.dirname(to), { recursive: true });
  try {
    await fsp.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await preserveCopy(from, to);
    await fsp.rm(from, { recursive: true });
  }
  await fsyncDir(path.dirname(to));
  await fsyncDir(path.dirname(from));
}

export async function inspectTokenFile(file: string): Promise<TokenVerdict> {
  const st = await fsp.stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  const leftovers = await leftoversOf(file);
  const extra = leftovers.length ? { leftovers } : {};
  if (!st) return { file, state: 'missing', ...extra };
  const seen = { size: st.size, modifiedAt: st.mtime.toISOString(), ...extra };
  if (!st.isFile()) return { file, state: 'unreadable', problem: 'it is not a regular file', ...seen };
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    return {
      file,
      state: 'unreadable',
      problem: `it cannot be read (${(err as NodeJS.ErrnoException).code})`,
      ...seen,
    };
  }
  const problem = tokenTextProblem(text);
  return problem ? { file, state: 'unreadable', problem, ...seen } : { file, state: 'valid', ...seen };
}

export function createAuthTokenActivities(config: LifeboatConfig) {
  return {
    /**
     * Says whether the token file is valid, missing or unreadable. With `require`, anything but a
     * valid token written by a rename (no temp file left beside it) is a STOP. (The run calls it so
     * after the old file was moved away or was missing: whatever is in place is new.)
     */
    async checkTokenFile(targetName: string, options: { require?: boolean } = {}): Promise<TokenVerdict> {
      const { file, reauthenticate } = sectionOf(config, targetName, 'authTokens');
      const verdict = { ...(await inspectTokenFile(file)), reauthenticate };
      if (!options.require) return verdict;
      if (verdict.state === 'missing')
        throw stopFailure(
          'IntegrityFailure',
          `${file} is still missing: no new token was written; sign in again, then retry`,
        );
      if (verdict.state === 'unreadable')
        throw stopFailure(
          'IntegrityFailure',
          `the new token file ${file} is unreadable: ${verdict.problem}; sign in again, then retry`,
        );
      if (verdict.leftovers)
        throw stopFailure(
          'IntegrityFailure',
          `${file} was not written atomically: ${verdict.leftovers.join(', ')} beside it look like an unfinished write; make sure the sign-in finished, remove them, then retry`,
        );
      return verdict;
    },

    /**
     * Moves an unreadable token file into `<quarantine>/<incident>/` (kept, never deleted), so the
     * application cannot trip over it and a new sign-in writes a fresh file. Idempotent.
     */
    async quarantineTokenFile(targetName: string, incident: string): Promise<{ quarantined?: string }> {
      const tokens = sectionOf(config, targetName, 'authTokens');
      const kept = path.join(incidentFolder(tokens.quarantine, incident), path.basename(tokens.file));
      if (await exists(kept)) {
        // A retry after the move: the file is gone from its place, or is a new one already.
        return { quarantined: kept };
      }
      if (!(await exists(tokens.file))) return {};
      await move(tokens.file, kept);
      return { quarantined: kept };
    },

    /**
     * The way back (a stop): puts the quarantined file back, unless a new token file is already in
     * its place (a new sign-in is never undone). Harmless when nothing was moved.
     */
    async putTokenFileBack(targetName: string, incident: string): Promise<{ restored: boolean }> {
      const tokens = sectionOf(config, targetName, 'authTokens');
      const kept = path.join(incidentFolder(tokens.quarantine, incident), path.basename(tokens.file));
      if (!(await exists(kept)) || (await exists(tokens.file))) return { restored: false };
      await move(kept, tokens.file);
      return { restored: true };
    },
  };
}
