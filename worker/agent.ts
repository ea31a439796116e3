/**
 * The agent entrypoint (`npm run agent`): runs on each host, reads that host's targets from
 * LIFEBOAT_AGENT_CONFIG, polls its own task queue `<control queue>-agent-<name>` (`lifeboat-agent-<name>`)
 * with the activities that touch them, and announces itself to the control plane, signed with its key,
 * through the `registerAgent` workflow. A refused announcement (not listed, wrong key, a target another
 * agent holds) stops it with the reason, exit 2. Connection settings as for the worker (TEMPORAL_*,
 * profiles). Until Ctrl-C.
 */
import * as v8 from 'node:v8';
// Why: as the worker's (worker/main.ts): backups stream through small buffers; a small young
// generation keeps the agent's resident set flat.
v8.setFlagsFromString('--max-semi-space-size=2');

import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHostActivities } from '../activities';
import type { RegisterResult } from '../activities/agents';
import { Catalog } from '../activities/lib/catalog';
import { readSigningKey, signDetached } from '../activities/lib/signing';
import { targetSections } from '../activities/targets';
import { agentQueue, type Announcement } from '../common/agents';
import { canonicalJson } from '../common/statements';
import { ConfigError } from '../config';
import { loadAgentConfig, type AgentConfig } from '../config/agent';
import { buildInfo, describeBuild } from '../config/build';
import { agentSession, announceUpdate } from '../workflows/agents';
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
    targets: Object.values(agent.config.targets).map((t) => ({
      name: t.name,
      sections: targetSections(t),
      labels: t.labels ?? {},
    })),
    at: new Date().toISOString(),
  };
}

/** Signs and sends the announcement; resolves to the control plane's verdict. */
async function announce(
  client: Client,
  agent: AgentConfig,
  target: TemporalTarget,
  a: Announcement,
): Promise<RegisterResult> {
  const text = canonicalJson(a);
  const key = agent.agent.signingKey
    ? await readSigningKey(agent.agent.signingKey, agent.agent.signingKeyPassphraseEnv, 'agent')
    : undefined;
  const signature = key ? await signDetached(new TextEncoder().encode(text), key) : undefined;
  // One session workflow per agent takes every announcement as an Update (started by the first).
  const update = client.workflow.executeUpdateWithStart(announceUpdate, {
    args: [{ announcement: text, ...(signature ? { signature } : {}) }],
    startWorkflowOperation: new WithStartWorkflowOperation(agentSession, {
      workflowId: `lifeboat-agent-${a.agent}`,
      taskQueue: target.taskQueue,
      args: [{ agent: a.agent }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: `agent ${a.agent}: its announcements`,
    }),
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `the control plane did not answer the announcement within ${ANNOUNCE_TIMEOUT_MS / 1000} s: is a control-plane worker (npm run worker) polling task queue '${target.taskQueue}'?`,
          ),
        ),
      ANNOUNCE_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([update, timeout]);
  } finally {
    clearTimeout(timer);
  }
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
  const catalog = new Catalog(agent.config.catalog);
  const queue = agentQueue(target.taskQueue, agent.agent.name);
  try {
    const activities = createHostActivities(agent.config, catalog);
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
      verdict = await announce(client, agent, target, announcementOf(agent, queue, Object.keys(activities)));
    } catch (err) {
      verdict = { ok: false, refusal: (err as Error).message };
    }
    if (!verdict.ok) {
      console.error(`lifeboat agent ${agent.agent.name}: the control plane refused it: ${verdict.refusal}`);
      worker.shutdown();
      await running;
      return 2;
    }
    console.log(
      `lifeboat agent ${agent.agent.name}: polling task queue '${queue}' on ${target.address}; targets: ${verdict.targets.join(', ') || 'none'}`,
    );
    // Announced again periodically: a refusal now (forgotten, its target claimed by another) stops it.
    let refused: string | undefined;
    const timer = setInterval(() => {
      announce(client, agent, target, announcementOf(agent, queue, Object.keys(activities))).then(
        (again) => {
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

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`lifeboat agent: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
