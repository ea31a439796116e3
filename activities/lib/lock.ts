/**
 * A target's lock: a file created exclusively in its repository, holding who took it. A second run
 * is refused with the holder named; a lock whose holder process is gone (same host) is reported as
 * stale, and only a responder's decision breaks it.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fsyncDir } from './files';

export interface LockHolder {
  workflowId: string;
  runId: string;
  purpose: string;
  host: string;
  pid: number;
  acquiredAt: string;
}

export type LockResult =
  | { acquired: true; holder: LockHolder }
  | { acquired: false; holder: LockHolder | undefined; stale: boolean; problem: string };

export function lockPath(repository: string): string {
  return path.join(repository, '.lifeboat.lock');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(file: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/** Takes the lock for `me`; taking it again for the same workflow run (an activity retry) succeeds. */
export async function acquireLock(
  repository: string,
  me: Omit<LockHolder, 'host' | 'pid' | 'acquiredAt'>,
): Promise<LockResult> {
  await fsp.mkdir(repository, { recursive: true });
  const file = lockPath(repository);
  const holder: LockHolder = {
    ...me,
    host: os.hostname(),
    pid: process.pid,
    acquiredAt: new Date().toISOString(),
  };
  try {
    await fsp.writeFile(file, JSON.stringify(holder), { flag: 'wx' });
    await fsyncDir(repository);
    return { acquired: true, holder };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const current = await readHolder(file);
  if (current && current.workflowId === me.workflowId && current.runId === me.runId)
    return { acquired: true, holder: current };
  const stale = !current || (current.host === os.hostname() && !pidAlive(current.pid));
  const who = current
    ? `workflow ${current.workflowId} (${current.purpose}) on ${current.host}, pid ${current.pid}, since ${current.acquiredAt}`
    : 'an unreadable lock file';
  return {
    acquired: false,
    holder: current,
    stale,
    problem: stale
      ? `the lock ${file} is held by ${who}, whose process is gone: approve gate 'breakLock' to break it, or stop`
      : `the target is locked by ${who}; retry when it is done, or stop`,
  };
}

/** Releases the lock if `workflowId`/`runId` hold it; returns whether it did. */
export async function releaseLock(repository: string, workflowId: string, runId: string): Promise<boolean> {
  const file = lockPath(repository);
  const current = await readHolder(file);
  if (!current || current.workflowId !== workflowId || current.runId !== runId) return false;
  await fsp.rm(file, { force: true });
  await fsyncDir(repository);
  return true;
}

/** Breaks a stale lock, keeping its content beside it for the record. */
export async function breakLock(
  repository: string,
  expected: LockHolder | undefined,
): Promise<string | undefined> {
  const file = lockPath(repository);
  if (!fs.existsSync(file)) return undefined;
  const current = await readHolder(file);
  if (
    expected &&
    current &&
    (current.workflowId !== expected.workflowId || current.runId !== expected.runId)
  ) {
    throw new Error(`the lock changed hands (now ${current.workflowId}); not breaking it`);
  }
  const kept = `${file}.broken-${Date.now()}`;
  await fsp.rename(file, kept);
  await fsyncDir(repository);
  return kept;
}
