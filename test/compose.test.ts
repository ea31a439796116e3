/**
 * The production shape (docker-compose.yml, Dockerfile, deploy/) checked without a Docker engine,
 * which the development machine and CI do not have: the control plane and one agent as separate
 * services with separate volumes, the one-shot that makes the agent's key pair, and the two configs
 * they read, parsed by the real loaders and checked against the paths the compose file mounts.
 *
 * The compose file is read two ways and the same facts are asserted on each:
 *  - always, from its text: no YAML parser is a dependency of this project (js-yaml only sits in
 *    node_modules as a transitive dependency of jest, so it is not relied on), so a few regexes
 *    cut the file into its service blocks and read the keys this file uses;
 *  - when the docker client and its compose plugin are installed, from `docker compose config
 *    --format json`, which validates the file against the compose specification and resolves it
 *    the way `docker compose up` would (it needs no engine).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { SEARCH_ATTRIBUTES } from '../common/constants';
import { loadConfig } from '../config';
import { loadAgentConfig } from '../config/agent';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const DOCKERFILE = path.join(ROOT, 'Dockerfile');

const SETUP_SERVICE = 'temporal-setup';
const CONTROL_PLANE = 'lifeboat-control-plane';
const AGENT = 'lifeboat-agent';
const AGENT_KEY = 'lifeboat-agent-key';
/** Where each role keeps its state, on its own volume. */
const STATE = '/var/lib/lifeboat';
/** What the worker loads, and bin/ for running the CLI inside the container (README.md, "Production shape"). */
const IMAGE_FOLDERS = ['common', 'config', 'workflows', 'runbooks', 'activities', 'worker', 'client', 'bin'];

/** The facts the tests look at, whichever way the compose file was read. */
interface ServiceFacts {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment: Record<string, string>;
  dependsOn: Record<string, string>;
  ports: string[];
  /** The service's command (and entrypoint), as one text with `$$` already unescaped. */
  script: string;
  /** The command's words when it is a list of words (`['node', 'worker/agent.ts']`). */
  command: string[];
  restart?: string;
  /** `source:target[:ro]` for bind mounts and named volumes. */
  volumes: string[];
  /** deploy.replicas, when set. */
  replicas?: number;
}

interface ComposeFacts {
  source: string;
  services: Record<string, ServiceFacts>;
  volumes: string[];
}

// ---- reading the file as text -----------------------------------------------------------------

/**
 * The entries of a YAML mapping written in block style: each `key:` at column 0 with the lines
 * indented under it, dedented by two (an inline value becomes the first line). Blank lines and
 * comments are dropped, which is all this file's checks need.
 */
function blocks(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let current: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const key = /^([A-Za-z0-9_.-]+):\s*(.*)$/.exec(line);
    if (key) {
      current = key[1];
      out[current] = key[2] ? `${key[2]}\n` : '';
    } else if (current !== undefined && line.startsWith('  ')) {
      out[current] += `${line.slice(2)}\n`;
    } else {
      current = undefined;
    }
  }
  return out;
}

function unquote(value: string): string {
  const v = value.trim();
  return /^(['"]).*\1$/.test(v) ? v.slice(1, -1) : v;
}

/** `key: value` pairs or `- KEY=value` items of a block. */
function mapping(block: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (block ?? '').split('\n')) {
    const item = /^-\s*([A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    const pair = /^([A-Za-z0-9_.-]+):\s*(.+)$/.exec(line);
    if (item) out[item[1]] = unquote(item[2]);
    else if (pair) out[pair[1]] = unquote(pair[2]);
  }
  return out;
}

function listItems(block: string | undefined): string[] {
  return (block ?? '')
    .split('\n')
    .map((l) => /^-\s*(.+)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => unquote(m[1]));
}

/** The words of a flow sequence (`['a', 'b']`); undefined for another kind of value. */
function flowWords(value: string | undefined): string[] | undefined {
  const flow = /^\[(.*)\]$/.exec((value ?? '').trim());
  return flow ? flow[1].split(',').map(unquote) : undefined;
}

function factsFromText(text: string): ComposeFacts {
  const top = blocks(text);
  const services: Record<string, ServiceFacts> = {};
  for (const [name, body] of Object.entries(blocks(top.services ?? ''))) {
    const keys = blocks(body);
    const dependsOn: Record<string, string> = {};
    for (const [dep, cond] of Object.entries(blocks(keys.depends_on ?? ''))) {
      dependsOn[dep] = mapping(cond).condition ?? 'service_started';
    }
    for (const dep of listItems(keys.depends_on)) dependsOn[dep] = 'service_started';
    const build = keys.build === undefined ? undefined : mapping(keys.build);
    services[name] = {
      image: keys.image?.trim(),
      build: build && {
        context: path.resolve(ROOT, build.context ?? keys.build.trim()),
        dockerfile: build.dockerfile ?? 'Dockerfile',
      },
      environment: mapping(keys.environment),
      dependsOn,
      ports: listItems(keys.ports),
      script: `${keys.entrypoint ?? ''}\n${keys.command ?? ''}`.replace(/\$\$/g, '$'),
      command: flowWords(keys.command) ?? listItems(keys.command),
      restart: keys.restart === undefined ? undefined : unquote(keys.restart),
      volumes: listItems(keys.volumes).map((v) => {
        const [source, ...rest] = v.split(':');
        const local = /^[./]/.test(source) ? path.relative(ROOT, path.resolve(ROOT, source)) : source;
        return [local, ...rest].join(':');
      }),
      replicas: keys.deploy === undefined ? undefined : Number(mapping(keys.deploy).replicas),
    };
  }
  return {
    source: 'the text of docker-compose.yml',
    services,
    volumes: Object.keys(blocks(top.volumes ?? '')),
  };
}

// ---- reading the file through `docker compose config` -----------------------------------------

interface ComposeJson {
  services: Record<
    string,
    {
      image?: string;
      build?: { context: string; dockerfile?: string };
      environment?: Record<string, string | null>;
      depends_on?: Record<string, { condition: string }>;
      ports?: { target: number; published?: string }[];
      entrypoint?: string[] | null;
      command?: string[] | null;
      restart?: string;
      volumes?: { type: string; source: string; target: string; read_only?: boolean }[];
      deploy?: { replicas?: number };
    }
  >;
  volumes?: Record<string, unknown>;
}

async function composeAvailable(): Promise<boolean> {
  try {
    await run('docker', ['compose', 'version'], { timeout: 10000 });
    return true;
  } catch {
    return false;
  }
}

async function factsFromDocker(): Promise<ComposeFacts> {
  const { stdout } = await run(
    'docker',
    ['compose', '-f', 'docker-compose.yml', 'config', '--format', 'json'],
    {
      cwd: ROOT,
      timeout: 20000,
      maxBuffer: 10 * 1024 * 1024,
    },
  );
  const json = JSON.parse(stdout) as ComposeJson;
  const services: Record<string, ServiceFacts> = {};
  for (const [name, s] of Object.entries(json.services)) {
    services[name] = {
      image: s.image,
      build: s.build && {
        context: path.resolve(s.build.context),
        dockerfile: s.build.dockerfile ?? 'Dockerfile',
      },
      environment: Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v ?? ''])),
      dependsOn: Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([k, v]) => [k, v.condition])),
      ports: (s.ports ?? []).map((p) => `${p.published}:${p.target}`),
      // `config --format json` keeps `$$` escaped, as it would be re-read as a compose file.
      script: [...(s.entrypoint ?? []), ...(s.command ?? [])].join('\n').replace(/\$\$/g, '$'),
      command: s.command ?? [],
      restart: s.restart,
      volumes: (s.volumes ?? []).map((v) => {
        const source = v.type === 'bind' ? path.relative(ROOT, v.source) : v.source;
        return `${source}:${v.target}${v.read_only ? ':ro' : ''}`;
      }),
      replicas: s.deploy?.replicas,
    };
  }
  return { source: '`docker compose config`', services, volumes: Object.keys(json.volumes ?? {}) };
}

// ---- the facts ----------------------------------------------------------------------------------

/** Runs `check` on every reading of the compose file, naming the reading when one fails. */
function forEachReading(readings: ComposeFacts[], check: (facts: ComposeFacts) => void): void {
  expect(readings.length).toBeGreaterThan(0);
  for (const facts of readings) {
    try {
      check(facts);
    } catch (err) {
      (err as Error).message = `reading ${facts.source}:\n${(err as Error).message}`;
      throw err;
    }
  }
}

let readings: ComposeFacts[] = [];

beforeAll(async () => {
  readings = [factsFromText(fs.readFileSync(COMPOSE_FILE, 'utf8'))];
  if (await composeAvailable()) readings.push(await factsFromDocker());
}, 30000);

test('the compose file has the database, the server, its setup, the UI, the control plane and an agent', () => {
  forEachReading(readings, ({ services }) => {
    expect(Object.keys(services).sort()).toEqual(
      expect.arrayContaining([
        AGENT,
        AGENT_KEY,
        CONTROL_PLANE,
        'lifeboat-database',
        'postgresql',
        SETUP_SERVICE,
        'temporal',
        'temporal-ui',
      ]),
    );
    expect(Object.keys(services)).not.toContain('lifeboat-worker');
  });
});

test('every image is pinned to a release and names no registry host', () => {
  forEachReading(readings, ({ services }) => {
    for (const [name, s] of Object.entries(services)) {
      if (s.build) continue;
      // owner/name:tag or name:tag; a host (with a dot or a port) before the first slash is not allowed.
      expect({ name, image: s.image }).toEqual({
        name,
        image: expect.stringMatching(/^([a-z0-9-]+\/)?[a-z0-9-]+:\d[\w.-]*$/),
      });
    }
    // The server and the admin tools that set up its schema are one release.
    const tag = (image?: string) => image?.split(':')[1];
    expect(tag(services.temporal.image)).toBeDefined();
    expect(tag(services[SETUP_SERVICE].image)).toBe(tag(services.temporal.image));
  });
});

test('the Temporal server runs on PostgreSQL and waits for it', () => {
  forEachReading(readings, ({ services }) => {
    expect(services.postgresql.image).toMatch(/^postgres:/);
    expect(services.postgresql.volumes.some((v) => v.endsWith(':/var/lib/postgresql/data'))).toBe(true);
    expect(services.temporal.dependsOn.postgresql).toBe('service_healthy');
    expect(services.temporal.environment).toMatchObject({
      DB: 'postgres12',
      DB_PORT: '5432',
      POSTGRES_SEEDS: 'postgresql',
    });
    expect(services.temporal.ports).toContain('7233:7233');
  });
});

test('the setup service waits for the server and registers every search attribute Lifeboat uses', () => {
  const typeName: Record<string, string> = { KEYWORD: 'Keyword', BOOL: 'Bool', TEXT: 'Text', INT: 'Int' };
  forEachReading(readings, ({ services }) => {
    const setup = services[SETUP_SERVICE];
    expect(setup.image).toMatch(/^temporalio\/admin-tools:/);
    expect(setup.dependsOn.temporal).toBe('service_healthy');
    expect(setup.environment.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(setup.script).toContain('temporal operator search-attribute create');
    expect(setup.script).toMatch(/already exists/);
    for (const sa of SEARCH_ATTRIBUTES) {
      expect(setup.script).toMatch(new RegExp(`register ${sa.name} ${typeName[sa.type]}\\b`));
    }
  });
});

test('the UI points at the server', () => {
  forEachReading(readings, ({ services }) => {
    expect(services['temporal-ui'].image).toMatch(/^temporalio\/ui:/);
    expect(services['temporal-ui'].environment.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(services['temporal-ui'].ports).toContain('8080:8080');
  });
});

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

const mounts = (s: ServiceFacts): Mount[] =>
  s.volumes.map((v) => {
    const [source, target, mode] = v.split(':');
    return { source, target, readOnly: mode === 'ro' };
  });

/** The mount a file in the container is on: the one whose target holds it, the deepest first. */
function mountOf(s: ServiceFacts, file: string): Mount | undefined {
  return mounts(s)
    .filter((m) => file === m.target || file.startsWith(`${m.target}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
}

/** The named volumes a service mounts (bind mounts of this repository's files left out). */
const namedVolumes = (s: ServiceFacts) => mounts(s).filter((m) => !/^[./]|^deploy\//.test(m.source));

test('the control plane is built here, reaches the server, reads its mounted config and waits for the setup and the key', () => {
  forEachReading(readings, ({ services, volumes }) => {
    const cp = services[CONTROL_PLANE];
    expect(cp.build).toEqual({ context: ROOT, dockerfile: 'Dockerfile' });
    // The image's default command: bin/lifeboat-worker.js (the Dockerfile test checks it).
    expect(cp.command).toEqual([]);
    expect(cp.environment).toMatchObject({
      TEMPORAL_ADDRESS: 'temporal:7233',
      LIFEBOAT_TASK_QUEUE: 'lifeboat',
      LIFEBOAT_CONFIG: '/etc/lifeboat/lifeboat.config.json',
    });
    // Its stores are in PostgreSQL, shared by its replicas; the password comes from the environment.
    expect(cp.environment.LIFEBOAT_DB_PASSWORD).toBeTruthy();
    expect(cp.replicas).toBe(2);
    expect(cp.volumes).toContain('deploy/lifeboat.config.json:/etc/lifeboat/lifeboat.config.json:ro');
    // The public keys of agents on other hosts (README.md, "Adding a host").
    expect(cp.volumes).toContain('deploy/agent-keys:/etc/lifeboat/agent-keys:ro');
    expect(fs.statSync(path.join(ROOT, 'deploy', 'agent-keys')).isDirectory()).toBe(true);
    const data = mountOf(cp, STATE);
    expect(data?.target).toBe(STATE);
    expect(volumes).toContain(data?.source);
    expect(cp.dependsOn).toEqual({
      [SETUP_SERVICE]: 'service_completed_successfully',
      [AGENT_KEY]: 'service_completed_successfully',
      'lifeboat-database': 'service_completed_successfully',
    });
    // Lifeboat's own role and database, in the same PostgreSQL as Temporal's, once it is healthy.
    const db = services['lifeboat-database'];
    expect(db.dependsOn).toEqual({ postgresql: 'service_healthy' });
    expect(db.environment.PGHOST).toBe('postgresql');
    expect(db.script).toMatch(/CREATE ROLE lifeboat LOGIN PASSWORD/);
    expect(db.script).toMatch(/CREATE DATABASE lifeboat OWNER lifeboat/);
    expect(cp.restart).toBe('unless-stopped');
  });
});

test('the agent runs bin/lifeboat-worker.js agent after the control plane, on the same server and queue, and restarts', () => {
  forEachReading(readings, ({ services }) => {
    const agent = services[AGENT];
    const cp = services[CONTROL_PLANE];
    expect(agent.build).toEqual(cp.build);
    expect(agent.command).toEqual(['node', '--max-semi-space-size=2', 'bin/lifeboat-worker.js', 'agent']);
    expect(agent.environment).toMatchObject({
      TEMPORAL_ADDRESS: cp.environment.TEMPORAL_ADDRESS,
      TEMPORAL_NAMESPACE: cp.environment.TEMPORAL_NAMESPACE,
      // The control plane's queue: the agent polls `lifeboat-agent-<name>` beside it.
      LIFEBOAT_TASK_QUEUE: cp.environment.LIFEBOAT_TASK_QUEUE,
      LIFEBOAT_AGENT_CONFIG: '/etc/lifeboat/lifeboat.agent.json',
    });
    expect(agent.environment.LIFEBOAT_CONFIG).toBeUndefined();
    expect(agent.volumes).toContain('deploy/lifeboat.agent.json:/etc/lifeboat/lifeboat.agent.json:ro');
    // It announces itself through a workflow the control plane runs; until that answers it exits
    // after 60 s and the restart policy starts it again.
    expect(agent.dependsOn).toEqual({
      [CONTROL_PLANE]: 'service_started',
      [AGENT_KEY]: 'service_completed_successfully',
    });
    expect(agent.restart).toBe('unless-stopped');
    expect(agent.ports).toEqual([]);
  });
});

test("the roles keep their state on separate volumes; only the agent's public keys are shared, read-only", () => {
  forEachReading(readings, ({ services, volumes }) => {
    const cp = namedVolumes(services[CONTROL_PLANE]);
    const agentSide = [...namedVolumes(services[AGENT]), ...namedVolumes(services[AGENT_KEY])];
    for (const m of [...cp, ...agentSide]) expect(volumes).toContain(m.source);
    const cpState = mountOf(services[CONTROL_PLANE], STATE)!.source;
    const agentState = mountOf(services[AGENT], STATE)!.source;
    expect(agentState).not.toBe(cpState);
    expect(agentSide.map((m) => m.source)).not.toContain(cpState);
    expect(cp.map((m) => m.source)).not.toContain(agentState);
    // The one volume both sides mount: the key one-shot writes it, the control plane only reads it.
    const shared = cp.filter((m) => agentSide.some((a) => a.source === m.source));
    expect(shared).toEqual([expect.objectContaining({ readOnly: true })]);
    expect(namedVolumes(services[AGENT]).map((m) => m.source)).not.toContain(shared[0].source);
    expect(namedVolumes(services[AGENT_KEY])).toEqual(
      expect.arrayContaining([
        { source: agentState, target: STATE, readOnly: false },
        { source: shared[0].source, target: shared[0].target, readOnly: false },
      ]),
    );
  });
});

test("the key one-shot makes the agent's pair from the agent's config, once, with no secret in the file", () => {
  forEachReading(readings, ({ services }) => {
    const key = services[AGENT_KEY];
    expect(key.build).toEqual(services[CONTROL_PLANE].build);
    expect(key.command.slice(0, 4)).toEqual(['node', '--require', 'tsx/cjs', 'scripts/agent-key.ts']);
    expect(key.command).toHaveLength(5);
    expect(key.environment).toEqual({
      LIFEBOAT_AGENT_CONFIG: services[AGENT].environment.LIFEBOAT_AGENT_CONFIG,
    });
    expect(key.volumes).toContain('deploy/lifeboat.agent.json:/etc/lifeboat/lifeboat.agent.json:ro');
    expect(key.dependsOn).toEqual({});
    expect(key.restart ?? 'no').toBe('no');
  });
  const text = fs.readFileSync(COMPOSE_FILE, 'utf8');
  expect(text).not.toMatch(/BEGIN PGP|PASSPHRASE\s*:/);
});

test('the deploy configs parse with the real loaders and fit the mounts: the control plane lists the agent, its key and its policies', () => {
  const cp = loadConfig(path.join(ROOT, 'deploy', 'lifeboat.config.json'));
  const agent = loadAgentConfig(path.join(ROOT, 'deploy', 'lifeboat.agent.json'));
  const name = agent.agent.name;
  expect(cp.auditLedger).toBe(`${STATE}/audit.sqlite`);
  expect(cp.catalog).toBe(`${STATE}/catalog.sqlite`);
  // The ledger and the catalog of record in PostgreSQL, the password from the variable compose sets.
  expect(cp.database).toEqual({
    url: 'postgres://lifeboat@postgresql:5432/lifeboat',
    passwordEnv: 'LIFEBOAT_DB_PASSWORD',
  });
  // Every target is the agent's: the control plane holds none and keeps only their gate policies.
  expect(cp.targets).toEqual({});
  const targets = Object.values(agent.config.targets);
  expect(targets.length).toBeGreaterThan(0);
  for (const target of targets) {
    expect(target.store).toBeDefined();
    for (const p of Object.values(target.store ?? {})) expect(p).toMatch(new RegExp(`^${STATE}/`));
    expect(target.gates).toEqual({});
    const restore = cp.policies?.[target.name]?.gates.restore;
    expect(restore?.approvers?.length).toBeGreaterThanOrEqual(2);
    expect(restore?.quorum).toBe(1);
  }
  expect(agent.agent.signingKey).toBe(`${STATE}/keys/${name}.sec.asc`);
  expect(agent.config.catalog).toMatch(new RegExp(`^${STATE}/`));
  expect(Object.keys(cp.agents ?? {})).toEqual([name]);

  forEachReading(readings, ({ services }) => {
    const key = services[AGENT_KEY];
    const publicDir = key.command[4];
    // The one-shot writes `<folder>/<name>.pub.asc`, the file the control plane's config names, on
    // the volume the control plane mounts read-only there.
    expect(cp.agents?.[name].publicKey).toBe(`${publicDir}/${name}.pub.asc`);
    const cpKeys = mountOf(services[CONTROL_PLANE], cp.agents![name].publicKey);
    expect(cpKeys).toEqual({ source: mountOf(key, publicDir)?.source, target: publicDir, readOnly: true });
    // The private key, the catalog and the targets' files are on the agent's volume, which the
    // one-shot writes the key to.
    const agentState = mountOf(services[AGENT], STATE)!.source;
    for (const file of [
      agent.agent.signingKey!,
      agent.config.catalog,
      ...targets.flatMap((t) => Object.values(t.store ?? {})),
    ]) {
      expect({ file, volume: mountOf(services[AGENT], file)?.source }).toEqual({ file, volume: agentState });
      expect(mountOf(services[CONTROL_PLANE], file)?.source).not.toBe(agentState);
    }
    expect(mountOf(key, agent.agent.signingKey!)?.source).toBe(agentState);
    // The ledger and the catalog with the registry are on the control plane's volume.
    for (const file of [cp.auditLedger, cp.catalog])
      expect(mountOf(services[CONTROL_PLANE], file)?.source).toBe(
        mountOf(services[CONTROL_PLANE], STATE)?.source,
      );
  });
});

test('the Dockerfile builds the dependencies apart and runs both roles as a non-root user', () => {
  const text = fs.readFileSync(DOCKERFILE, 'utf8');
  const lines = text.split('\n').map((l) => l.trim());
  const froms = lines.filter((l) => /^FROM\s/i.test(l));
  expect(froms.length).toBeGreaterThanOrEqual(2);
  for (const from of froms) expect(from).toMatch(/^FROM\s+node:20[\w.-]*(\s+AS\s+\w+)?$/i);
  expect(text).toMatch(/npm ci --omit=dev/);

  const final = lines.slice(lines.lastIndexOf(froms[froms.length - 1]));
  const users = final.filter((l) => /^USER\s/i.test(l));
  expect(users.length).toBeGreaterThan(0);
  expect(users[users.length - 1]).not.toMatch(/^USER\s+(root|0)(:|\s|$)/i);
  expect(final).toContain('COPY --from=build /app/node_modules ./node_modules');
  for (const folder of IMAGE_FOLDERS) expect(final).toContain(`COPY ${folder} ./${folder}`);
  // The control plane by default; the agent and the key one-shot by their compose commands.
  expect(final.find((l) => /^CMD\s/i.test(l))).toMatch(/bin\/lifeboat-worker\.js/);
  // The worker and the agent run compiled, as production runs them.
  expect(final).toContain('COPY --from=compile /app/dist ./dist');
  expect(text).toMatch(/RUN node scripts\/build\.js/);
  expect(final).toContain('COPY scripts/agent-key.ts ./scripts/agent-key.ts');
  expect(fs.existsSync(path.join(ROOT, 'worker', 'agent.ts'))).toBe(true);
  expect(final).toContain('VOLUME /var/lib/lifeboat');
  // A new named volume takes the owner of the folder it is mounted on: every folder a Lifeboat
  // service mounts a named volume on is the unprivileged user's.
  const owned = /chown node:node ([^\n&]+)/.exec(text)?.[1].trim().split(/\s+/) ?? [];
  forEachReading(readings, ({ services }) => {
    for (const name of [CONTROL_PLANE, AGENT, AGENT_KEY])
      for (const m of namedVolumes(services[name]))
        expect({ name, owned }).toEqual({ name, owned: expect.arrayContaining([m.target]) });
  });

  const ignored = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
  expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.git', '.tools', '.data']));
});
