/**
 * The agent entrypoint (`npm run agent`): runs on each host, reads that host's targets from
 * LIFEBOAT_AGENT_CONFIG, polls its own task queue `<control queue>-agent-<name>` (`lifeboat-agent-<name>`)
 * with the activities that touch them, and announces itself to the control plane, signed with its key,
 * through its session workflow (workflows/agents.ts), and reports its catalog's changes the same way
 * (worker/catalogMirror.ts). A refused announcement (not listed, wrong key, a target another
 * agent holds) stops it with the reason, exit 2. Connection settings as for the worker (TEMPORAL_*,
 * profiles). Until Ctrl-C.
 */

import { WithStartWorkflowOperation, type Client, type UpdateDefinition } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHostActivities } from '../activities';
import type { CatalogReport, RegisterResult } from '../activities/agents';
import { Catalog } from '../activities/lib/catalog';
import { readSigningKey, signDetached } from '../activities/lib/signing';
import { targetSections } from '../activities/targets';
import { agentQueue, type Announcement } from '../common/agents';
import { canonicalJson } from '../common/statements';
import { ConfigError } from '../config';
import { loadAgentConfig, type AgentConfig } from '../config/agent';
import { buildInfo, describeBuild } from '../config/build';
import { agentSession, announceUpdate, catalogUpdate } from '../workflows/agents';
import { CatalogMirror, reportingCatalog } from './catalogMirror';
import {
  TemporalConfigError,
  connectClient,
  connectionFailure,
  temporalTarget,
  type TemporalTarget,
} from '../config/connection';

const ANNOUNCE_TIMEOUT_MS = 60_000;

/** The announcement of this agent: who, where, which build, which activities, which targets. */
export function announcementOf(agent: AgentConfig, taskQueue: string, activities: string[]): Announcement {
  return {
    kind: 'lifeboat.agent',
    version: 1,
    agent: agent.agent.name,
    host: os.hostname(),
    build: describeBuild(buildInfo()),
    pid: process.pid,
    taskQueue,
    timeoutSeconds: agent.agent.timeoutSeconds,
    activities: [...activities].sort(),
    targets: Object.values(agent.config.targets)
      .filter((t) => !agent.standby.includes(t.name))
      .map((t) => ({ name: t.name, sections: targetSections(t), labels: t.labels ?? {} })),
    standby: agent.standby,
    at: new Date().toISOString(),
  };
}

/** Signs `body` (canonical JSON) with the agent's key, once read. */
function signer(agent: AgentConfig): (text: string) => Promise<string | undefined> {
  let key: ReturnType<typeof readSigningKey> | undefined;
  return async (text) => {
    if (!agent.agent.signingKey) return undefined;
    key ??= readSigningKey(agent.agent.signingKey, agent.agent.signingKeyPassphraseEnv, 'agent');
    return signDetached(new TextEncoder().encode(text), await key);
  };
}

type Sign = ReturnType<typeof signer>;

/** Sends one Update to the agent's session workflow (started by the first); resolves to its answer. */
async function toSession<R, A>(
  client: Client,
  target: TemporalTarget,
  agentName: string,
  update: UpdateDefinition<R, [A]>,
  arg: A,
  what: string,
): Promise<R> {
  const sent = client.workflow.executeUpdateWithStart(update, {
    args: [arg],
    startWorkflowOperation: new WithStartWorkflowOperation(agentSession, {
      workflowId: `lifeboat-agent-${agentName}`,
      taskQueue: target.taskQueue,
      args: [{ agent: agentName }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: `agent ${agentName}: its announcements`,
    }),
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `the control plane did not answer the ${what} within ${ANNOUNCE_TIMEOUT_MS / 1000} s: is a control-plane worker (npm run worker) polling task queue '${target.taskQueue}'?`,
          ),
        ),
      ANNOUNCE_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([sent, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Signs and sends the announcement; resolves to the control plane's verdict. */
async function announce(client: Client, sign: Sign, target: TemporalTarget, a: Announcement) {
  const text = canonicalJson(a);
  const signature = await sign(text);
  return toSession(
    client,
    target,
    a.agent,
    announceUpdate,
    { announcement: text, ...(signature ? { signature } : {}) },
    'announcement',
  );
}

/** Signs and sends a report of the catalog. */
async function report(client: Client, sign: Sign, target: TemporalTarget, r: CatalogReport) {
  const text = canonicalJson(r);
  const signature = await sign(text);
  return toSession(
    client,
    target,
    r.agent,
    catalogUpdate,
    { report: text, ...(signature ? { signature } : {}) },
    'catalog report',
  );
}

async function main(): Promise<number> {
  const file = path.resolve(process.env.LIFEBOAT_AGENT_CONFIG ?? 'lifeboat.agent.json');
  let agent: AgentConfig;
  let target: TemporalTarget;
  try {
    agent = loadAgentConfig(file);
    target = temporalTarget();
  } catch (err) {
    if (err instanceof ConfigError || err instanceof TemporalConfigError) {
      console.error(`lifeboat agent: ${err.message}`);
      return 2;
    }
    throw err;
  }
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(target.connection);
  } catch (err) {
    console.error(`lifeboat agent: ${(await connectionFailure(target, err)).message}`);
    return 2;
  }
  const { client, connection: clientConnection } = await connectClient(target);
  const name = agent.agent.name;
  const sign = signer(agent);
  const warn = (message: string) => console.warn(`lifeboat agent ${name}: ${message}`);
  const mirror = new CatalogMirror(
    () => catalog,
    name,
    (r) => report(client, sign, target, r),
    warn,
  );
  const catalog = new Catalog(agent.config.catalog, { onChange: (c) => mirror.mark(c) });
  const queue = agentQueue(target.taskQueue, name);
  try {
    const activities = reportingCatalog(createHostActivities(agent.config, catalog), mirror);
    const worker = await Worker.create({
      connection,
      namespace: target.namespace,
      taskQueue: queue,
      activities,
      identity: `lifeboat-agent ${agent.agent.name} pid ${process.pid} ${describeBuild(buildInfo())}`,
      maxHeartbeatThrottleInterval: '1 second',
      defaultHeartbeatThrottleInterval: '1 second',
    });
    const running = worker.run();
    let verdict: RegisterResult;
    try {
      verdict = await announce(client, sign, target, announcementOf(agent, queue, Object.keys(activities)));
    } catch (err) {
      // Not a refusal: the control plane did not answer (not running, or its stores are down).
      console.error(
        `lifeboat agent ${agent.agent.name}: could not announce itself to the control plane: ${(err as Error).message}`,
      );
      worker.shutdown();
      await running;
      return 1;
    }
    if (!verdict.ok) {
      console.error(`lifeboat agent ${agent.agent.name}: the control plane refused it: ${verdict.refusal}`);
      worker.shutdown();
      await running;
      return 2;
    }
    // Every row at start: what the control plane missed while this agent was away.
    mirror.markAll();
    await mirror.flush().catch(() => undefined);
    console.log(
      `lifeboat agent ${agent.agent.name}: polling task queue '${queue}' on ${target.address}; targets: ${verdict.targets.join(', ') || 'none'}`,
    );
    // Announced again periodically: a refusal now (forgotten, its target claimed by another) stops it.
    let refused: string | undefined;
    const timer = setInterval(() => {
      announce(client, sign, target, announcementOf(agent, queue, Object.keys(activities))).then(
        (again) => {
          // What could not be reported before goes with the announcement.
          if (again.ok) void mirror.flush().catch(() => undefined);
          if (again.ok || refused) return;
          refused = again.refusal;
          console.error(`lifeboat agent ${agent.agent.name}: the control plane refused it: ${again.refusal}`);
          worker.shutdown();
        },
        (err: unknown) =>
          console.warn(
            `lifeboat agent ${agent.agent.name}: announcing again failed: ${(err as Error).message}`,
          ),
      );
    }, agent.agent.announceEverySeconds * 1000);
    try {
      await running;
    } finally {
      clearInterval(timer);
    }
    return refused ? 2 : 0;
  } finally {
    catalog.close();
    await connection.close();
    await clientConnection.close();
  }
}

/** Runs the agent until it stops, then exits with its status (bin/lifeboat-worker.js calls this). */
export function start(): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`lifeboat agent: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}

if (require.main === module) start();
