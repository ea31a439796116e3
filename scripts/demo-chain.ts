/**
 * Builds "auditChain" targets on disk in the layout of procedure 001 §3.3: a hash-chained log of
 * JSON lines (activities/lib/chain.ts) and backups `chain_backups/<timestamp>.json`, as JSON lines
 * or a JSON array. `writeChainDemo` is the demo target for `npm run up`; the tests build their
 * fixtures with `writeChainFixture`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildChain, toJsonLines, type ChainEntry } from '../activities/lib/chain';
import { backupName } from './demo-config';

/** How an entry is damaged: edited in place, replaced by a torn line, or edited and re-hashed. */
export type ChainDamage =
  { kind: 'tamper'; index: number } | { kind: 'notJson'; index: number } | { kind: 'relink'; index: number };

export interface ChainBackupSpec {
  /** The first `entries` entries of the live chain (or of another history, with `divergeAt`). */
  entries: number;
  format?: 'lines' | 'array';
  damage?: ChainDamage;
  /** From this index on, the backup holds different entries than the live chain. */
  divergeAt?: number;
}

export interface ChainFixtureSpec {
  entries: number;
  damage?: ChainDamage;
  /** Backups, oldest first. */
  backups: ChainBackupSpec[];
  gates?: Record<string, unknown>;
}

export interface ChainFixture {
  target: Record<string, unknown>;
  file: string;
  backups: string;
  quarantine: string;
  /** The live chain's entries before any damage. */
  entries: ChainEntry[];
  backupNames: string[];
  contents: Record<string, Buffer>;
}

const ACTIONS = ['login', 'config.update', 'token.refresh', 'peer.join', 'model.pull', 'logout'];

/** Realistic audit records: one a minute from 2026-01-10T08:00Z. */
export function chainRecords(count: number, variant = ''): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    seq: i,
    timestamp: new Date(Date.UTC(2026, 0, 10, 8, i)).toISOString(),
    actor: i % 3 === 0 ? 'alice' : 'svc-maidos',
    action: ACTIONS[i % ACTIONS.length],
    detail: { node: `node-${(i % 4) + 1}${variant}`, ok: true },
  }));
}

/** JSON lines of `entries` with `damage` applied. */
export function damagedLines(entries: ChainEntry[], damage?: ChainDamage): string {
  if (!damage) return toJsonLines(entries);
  const lines = entries.map((e) => JSON.stringify(e));
  const target = entries[damage.index];
  if (damage.kind === 'notJson') {
    lines[damage.index] = lines[damage.index].slice(0, Math.floor(lines[damage.index].length / 2));
  } else {
    const edited: Record<string, unknown> = { ...target, actor: 'mallory' };
    if (damage.kind === 'relink') edited.hash = buildChain([edited], target.prevHash)[0].hash;
    lines[damage.index] = JSON.stringify(edited);
  }
  return lines.map((l) => `${l}\n`).join('');
}

export function writeChainFixture(dir: string, spec: ChainFixtureSpec): ChainFixture {
  const file = path.join(dir, 'chain.jsonl');
  const backups = path.join(dir, 'chain_backups');
  const quarantine = path.join(dir, 'quarantine');
  fs.mkdirSync(backups, { recursive: true });
  const contents: Record<string, Buffer> = {};
  const write = (f: string, text: string) => {
    fs.writeFileSync(f, text);
    contents[f] = Buffer.from(text);
  };
  const entries = buildChain(chainRecords(spec.entries));
  const backupNames = spec.backups.map((b, i) => {
    let chain = buildChain(chainRecords(b.entries));
    if (b.divergeAt !== undefined) {
      const other = buildChain(chainRecords(b.entries, '-restored'));
      chain = buildChain([...chain.slice(0, b.divergeAt), ...other.slice(b.divergeAt)]);
    }
    const name = backupName(i, '.json');
    const text =
      b.format === 'array' && !b.damage
        ? `${JSON.stringify(chain, null, 2)}\n`
        : damagedLines(chain, b.damage);
    write(path.join(backups, name), text);
    return name;
  });
  write(file, damagedLines(entries, spec.damage));
  const target: Record<string, unknown> = { auditChain: { file, backups, quarantine } };
  if (spec.gates) target.gates = spec.gates;
  return { target, file, backups, quarantine, entries, backupNames, contents };
}

/**
 * The demo target: a 12-entry chain whose entry 9 was edited after it was written; two backups,
 * 5 entries (JSON lines) and 8 entries (a JSON array). `auditChainRecovery` names entry 9, restores
 * the 8-entry backup after approval and records entries 8 to 11 as lost.
 */
export function writeChainDemo(dir: string): Record<string, unknown> {
  return writeChainFixture(dir, {
    entries: 12,
    damage: { kind: 'tamper', index: 9 },
    backups: [{ entries: 5 }, { entries: 8, format: 'array' }],
  }).target;
}
