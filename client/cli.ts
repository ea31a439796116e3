/**
 * `lifeboat`: start and steer runbooks. One command per file in client/commands/.
 * Exit codes: 0 success, 1 the operation failed, 2 bad input or a refused decision.
 *
 * A two-word command (`schedule create`) belongs to the group named by its first word; groups come
 * from COMMANDS alone. `lifeboat <group> --help` (or `-h`) lists the group's subcommands; a group
 * with no subcommand, or one it does not have, gets the same list on stderr and exit code 2.
 */
import type { Client } from '@temporalio/client';
import { parseArgs } from 'node:util';
import type { Command, CommandContext } from './command';
import { command as agents } from './commands/agents';
import { command as agentsForget } from './commands/agents-forget';
import { command as approve } from './commands/approve';
import { command as archiveExtract } from './commands/archive-extract';
import { command as archiveList } from './commands/archive-list';
import { command as auditShow } from './commands/audit-show';
import { command as auditVerify } from './commands/audit-verify';
import { command as backupsList } from './commands/backups-list';
import { command as backupsVerify } from './commands/backups-verify';
import { command as drillsList } from './commands/drills-list';
import { retry, skip } from './commands/failed-step';
import { command as list } from './commands/list';
import { command as proofVerify } from './commands/proof-verify';
import { command as runbooks } from './commands/runbooks';
import { command as selfRestore } from './commands/self-restore';
import { command as scheduleCreate } from './commands/schedule-create';
import { command as scheduleDelete } from './commands/schedule-delete';
import { command as scheduleList } from './commands/schedule-list';
import { pause as schedulePause, unpause as scheduleUnpause } from './commands/schedule-pause';
import { command as schedulePreset } from './commands/schedule-preset';
import { command as scheduleTrigger } from './commands/schedule-trigger';
import { command as start } from './commands/start';
import { command as status } from './commands/status';
import { command as stop } from './commands/stop';
import { command as storeMigrate } from './commands/store-migrate';
import { command as targets } from './commands/targets';
import { command as version } from './commands/version';
import { command as watch } from './commands/watch';
import {
  TemporalConfigError,
  UnreachableError,
  connectClient,
  taskQueueFrom,
  temporalTarget,
} from '../config/connection';
import { CliError } from './runs';

export const COMMANDS: Command[] = [
  runbooks,
  start,
  status,
  list,
  watch,
  approve,
  retry,
  skip,
  stop,
  auditShow,
  auditVerify,
  backupsList,
  backupsVerify,
  drillsList,
  proofVerify,
  archiveList,
  archiveExtract,
  selfRestore,
  scheduleCreate,
  scheduleList,
  schedulePause,
  scheduleUnpause,
  scheduleTrigger,
  scheduleDelete,
  schedulePreset,
  agents,
  agentsForget,
  targets,
  storeMigrate,
  version,
];

function helpOf(cmd: Command): string {
  const options = Object.entries(cmd.options).map(
    ([name, o]) => `  --${name}${o.value ? ` <${o.value}>` : ''}`.padEnd(34) + o.description,
  );
  return [
    `lifeboat ${cmd.name} ${cmd.usage}`,
    '',
    cmd.summary,
    '',
    'Options:',
    ...options,
    `  -h, --help`.padEnd(34) + 'show this help',
    '',
    'Examples:',
    ...cmd.examples.map((e) => `  ${e}`),
  ].join('\n');
}

function overview(): string {
  return [
    'lifeboat <command> [options]   (lifeboat <command> --help for details)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(16)} ${c.summary}`),
    '',
    'Exit codes: 0 success, 1 the operation failed, 2 bad input or a refused decision.',
  ].join('\n');
}

const HELP_FLAGS = ['--help', '-h'];

/** The command groups in the order of COMMANDS: `schedule` → `schedule create`, `schedule list`, … */
export function commandGroups(commands: Command[] = COMMANDS): Map<string, Command[]> {
  const groups = new Map<string, Command[]>();
  for (const cmd of commands) {
    const [group, subcommand] = cmd.name.split(' ');
    if (subcommand !== undefined) groups.set(group, [...(groups.get(group) ?? []), cmd]);
  }
  return groups;
}

function groupHelp(group: string, cmds: Command[]): string {
  const subcommands = cmds.map((c) => ({ name: c.name.slice(group.length + 1), summary: c.summary }));
  const width = Math.max(...subcommands.map((s) => s.name.length));
  return [
    `lifeboat ${group} <subcommand> [options]   (lifeboat ${group} <subcommand> --help for details)`,
    '',
    ...subcommands.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`),
  ].join('\n');
}

/** `lifeboat <group> …` with no subcommand of the group: the list, on stdout only when asked for. */
function answerGroup(
  group: string,
  cmds: Command[],
  next: string | undefined,
  out: (line: string) => void,
  err: (line: string) => void,
): number {
  if (next !== undefined && HELP_FLAGS.includes(next)) {
    out(groupHelp(group, cmds));
    return 0;
  }
  const problem =
    next === undefined
      ? 'missing subcommand'
      : next.startsWith('-')
        ? `missing subcommand before '${next}'`
        : `unknown subcommand '${next}'`;
  err(`lifeboat ${group}: ${problem}\n\n${groupHelp(group, cmds)}`);
  return 2;
}

/**
 * The CLI package (scripts/pack-cli.js) has better-sqlite3 as an optional dependency: an install
 * offline, or where no binary fits and nothing can build one, has none. Only the commands that read
 * the local stores or the catalog load it (a PostgreSQL config too: the store code loads it), and
 * they say so.
 */
const MISSING_SQLITE =
  "this command reads the control plane's local stores or catalog and needs the native module " +
  "better-sqlite3, which is not installed beside this lifeboat (the CLI package's optional " +
  'dependency: its install ran offline, or found no prebuilt binary and no compiler). Install it ' +
  'beside lifeboat: `npm install better-sqlite3` in the folder lifeboat was installed into, or ' +
  '`npm install --global better-sqlite3` for a global one.';

function isMissingSqlite(e: unknown): boolean {
  return (
    (e as NodeJS.ErrnoException)?.code === 'MODULE_NOT_FOUND' &&
    /Cannot find module 'better-sqlite3'/.test((e as Error).message)
  );
}

function findCommand(argv: string[]): { cmd?: Command; rest: string[] } {
  const two = `${argv[0]} ${argv[1]}`;
  const cmd = COMMANDS.find((c) => c.name === two) ?? COMMANDS.find((c) => c.name === argv[0]);
  return { cmd, rest: cmd ? argv.slice(cmd.name.split(' ').length) : argv };
}

export async function main(argv: string[], out = console.log, err = console.error): Promise<number> {
  if (argv.length === 0 || HELP_FLAGS.includes(argv[0]) || argv[0] === 'help') {
    out(overview());
    return argv.length === 0 ? 2 : 0;
  }
  const { cmd, rest } = findCommand(argv);
  if (!cmd) {
    const group = commandGroups().get(argv[0]);
    if (group) return answerGroup(argv[0], group, argv[1], out, err);
    err(`lifeboat: unknown command '${argv.join(' ')}'\n\n${overview()}`);
    return 2;
  }
  const options = { ...cmd.options, help: { type: 'boolean' as const, short: 'h' } };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (e) {
    err(`lifeboat ${cmd.name}: ${(e as Error).message}\n\n${helpOf(cmd)}`);
    return 2;
  }
  if (parsed.values.help) {
    out(helpOf(cmd));
    return 0;
  }
  const required = cmd.positionals.filter((p) => !p.endsWith('?')).length;
  if (parsed.positionals.length < required || parsed.positionals.length > cmd.positionals.length) {
    const want = cmd.positionals.length
      ? cmd.positionals.map((p) => (p.endsWith('?') ? `[${p.slice(0, -1)}]` : `<${p}>`)).join(' ')
      : 'no arguments';
    err(
      `lifeboat ${cmd.name}: expected ${want}, got ${parsed.positionals.length ? parsed.positionals.join(' ') : 'none'}\n\n${helpOf(cmd)}`,
    );
    return 2;
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  let client: Client | undefined;
  const ctx: CommandContext = {
    values,
    positionals: parsed.positionals,
    out,
    err,
    taskQueue: taskQueueFrom(),
    // The Temporal profile is read only by commands that connect: a broken one never stops the others.
    connect: async () => {
      client ??= (
        await connectClient(
          temporalTarget({
            address: values.address as string | undefined,
            namespace: values.namespace as string | undefined,
            profile: values.profile as string | undefined,
          }),
        )
      ).client;
      return client;
    },
  };
  try {
    return await cmd.run(ctx);
  } catch (e) {
    if (e instanceof CliError) {
      err(`lifeboat ${cmd.name}: ${e.message}`);
      return e.exitCode;
    }
    if (e instanceof UnreachableError || e instanceof TemporalConfigError) {
      err(`lifeboat ${cmd.name}: ${e.message}`);
      return 2;
    }
    if (isMissingSqlite(e)) {
      err(`lifeboat ${cmd.name}: ${MISSING_SQLITE}`);
      return 1;
    }
    err(`lifeboat ${cmd.name}: failed: ${(e as Error).message}`);
    return 1;
  } finally {
    await client?.connection.close();
  }
}
