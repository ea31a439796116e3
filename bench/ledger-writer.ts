/**
 * One writer of the ledger benchmark (bench/ledger.ts), a process of its own as a control-plane
 * worker is: opens the stores the config names and appends `count` events one append at a time (as
 * the appendAudit activity does), printing each append's latency, when its appends began and ended,
 * and its CPU time as JSON.
 */
import { openStores } from '../activities/lib/stores';
import { loadConfig } from '../config';

async function main(): Promise<void> {
  const [configFile, countText, prefix] = process.argv.slice(2);
  const stores = await openStores(loadConfig(configFile));
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  const startedAt = Date.now();
  try {
    for (let i = 0; i < Number(countText); i += 1) {
      const started = process.hrtime.bigint();
      await stores.ledger.append([
        {
          eventKey: `${prefix}/${i}`,
          at: new Date().toISOString(),
          workflowId: `bench-${prefix}`,
          runId: 'run',
          runbook: 'fullBackup',
          target: 'bench',
          step: 'writeBackup',
          event: 'step.succeeded',
          actor: 'system',
          details: { i, bytes: 1024 * i },
        },
      ]);
      latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  } finally {
    await stores.close();
  }
  const endedAt = Date.now();
  const cpu = process.cpuUsage(cpuBefore);
  process.stdout.write(
    JSON.stringify({ latencies, cpuSeconds: (cpu.user + cpu.system) / 1e6, startedAt, endedAt }),
  );
}

main().catch((err: unknown) => {
  console.error((err as Error).message);
  process.exit(1);
});
