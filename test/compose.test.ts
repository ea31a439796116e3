/**
 * The production shape (docker-compose.yml, Dockerfile, deploy/lifeboat.config.json) checked without
 * a Docker engine, which the development machine and CI do not have.
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

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const DOCKERFILE = path.join(ROOT, 'Dockerfile');

const SETUP_SERVICE = 'temporal-setup';
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
  /** `source:target[:ro]` for bind mounts and named volumes. */
  volumes: string[];
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
      volumes: listItems(keys.volumes).map((v) => {
        const [source, ...rest] = v.split(':');
        const local = /^[./]/.test(source) ? path.relative(ROOT, path.resolve(ROOT, source)) : source;
        return [local, ...rest].join(':');
      }),
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
      volumes?: { type: string; source: string; target: string; read_only?: boolean }[];
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
      volumes: (s.volumes ?? []).map((v) => {
        const source = v.type === 'bind' ? path.relative(ROOT, v.source) : v.source;
        return `${source}:${v.target}${v.read_only ? ':ro' : ''}`;
      }),
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

test('the compose file has the database, the server, its setup, the UI and the worker', () => {
  forEachReading(readings, ({ services }) => {
    expect(Object.keys(services).sort()).toEqual(
      expect.arrayContaining(['lifeboat-worker', 'postgresql', SETUP_SERVICE, 'temporal', 'temporal-ui']),
    );
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

test('the worker is built here, reaches the server and reads the mounted config', () => {
  forEachReading(readings, ({ services, volumes }) => {
    const worker = services['lifeboat-worker'];
    expect(worker.build).toEqual({ context: ROOT, dockerfile: 'Dockerfile' });
    expect(worker.environment.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(worker.environment.LIFEBOAT_CONFIG).toBe('/etc/lifeboat/lifeboat.config.json');
    expect(worker.volumes).toContain('deploy/lifeboat.config.json:/etc/lifeboat/lifeboat.config.json:ro');
    const data = worker.volumes.find((v) => v.split(':')[1] === '/var/lib/lifeboat');
    expect(data).toBeDefined();
    expect(volumes).toContain(data?.split(':')[0]);
    expect(worker.dependsOn[SETUP_SERVICE]).toBe('service_completed_successfully');
  });
});

test('the sample production config is valid and keeps its state under /var/lib/lifeboat', () => {
  const config = loadConfig(path.join(ROOT, 'deploy', 'lifeboat.config.json'));
  expect(config.auditLedger).toBe('/var/lib/lifeboat/audit.sqlite');
  const targets = Object.values(config.targets);
  expect(targets.length).toBeGreaterThan(0);
  for (const target of targets) {
    expect(target.store).toBeDefined();
    for (const p of Object.values(target.store ?? {})) expect(p).toMatch(/^\/var\/lib\/lifeboat\//);
    expect(target.gates.restore?.approvers?.length).toBeGreaterThanOrEqual(2);
    expect(target.gates.restore?.quorum).toBe(1);
  }
});

test('the Dockerfile builds the dependencies apart and runs the worker as a non-root user', () => {
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
  expect(final.find((l) => /^CMD\s/i.test(l))).toMatch(/worker\/main\.ts/);
  expect(final).toContain('VOLUME /var/lib/lifeboat');

  const ignored = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
  expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.git', '.tools', '.data']));
});
