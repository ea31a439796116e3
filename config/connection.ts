/**
 * Connecting to Temporal with messages an operator can act on: an unreachable server is named by
 * its address, never shown as a stack trace.
 */
import { Client, Connection } from '@temporalio/client';
import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE, DEFAULT_TASK_QUEUE } from '../common/constants';

export interface TemporalTarget {
  address: string;
  namespace: string;
  taskQueue: string;
}

/** Address, namespace and task queue from flags, then the environment, then the defaults. */
export function temporalTarget(
  flags: { address?: string; namespace?: string } = {},
  env = process.env,
): TemporalTarget {
  return {
    address: flags.address ?? env.TEMPORAL_ADDRESS ?? DEFAULT_ADDRESS,
    namespace: flags.namespace ?? env.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE,
    taskQueue: env.LIFEBOAT_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
  };
}

export class UnreachableError extends Error {
  constructor(
    readonly address: string,
    cause: unknown,
  ) {
    const detail = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    super(
      `cannot reach the Temporal server at ${address} (${detail}). Is it running? ` +
        '`npm run up` starts one on localhost:7233; --address or TEMPORAL_ADDRESS point elsewhere.',
    );
    this.name = 'UnreachableError';
  }
}

export async function connectClient(
  target: TemporalTarget,
): Promise<{ client: Client; connection: Connection }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: target.address, connectTimeout: '5 seconds' });
    // connect() may succeed lazily; one cheap call proves the server answers.
    await connection.workflowService.getSystemInfo({});
  } catch (err) {
    throw new UnreachableError(target.address, err);
  }
  return { client: new Client({ connection, namespace: target.namespace }), connection };
}
