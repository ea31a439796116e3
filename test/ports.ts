/**
 * Ports for the servers a test starts itself (a dev server, the UI, `npm run up`) and for addresses
 * that must refuse connections.
 *
 * Why not `listen(0)` and close: that port comes from the kernel's ephemeral range, and between the
 * close and the server's own bind any outgoing connection, or another test's dev server picking its
 * internal ports the same way, may take it (a CI run failed on exactly that: "bind: address already in
 * use"). These ports come from below the ephemeral range, which the kernel never hands out by
 * itself, in a block of its own for each jest worker, so two test files running at once never pick
 * the same one. Each port is checked free by binding it before it is handed out.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';

const BLOCK = 400;
const FIRST = 20000;

/** The lowest port the kernel hands out by itself (32768 unless this machine says otherwise). */
function ephemeralStart(): number {
  try {
    const low = Number(
      fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    if (Number.isInteger(low) && low > FIRST) return low;
  } catch {
    // Not Linux: keep the default.
  }
  return 32768;
}

/** This process's block: the jest worker's id picks it (0 for the global set-up). */
function block(): { start: number; end: number } {
  const worker = Number(process.env.JEST_WORKER_ID ?? 0);
  const start = FIRST + (worker % Math.floor((ephemeralStart() - FIRST) / BLOCK)) * BLOCK;
  return { start, end: start + BLOCK };
}

let next: number | undefined;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port nothing listens on, that no other test process and no outgoing connection will take. */
export async function freePort(): Promise<number> {
  const { start, end } = block();
  // Each test file gets fresh modules, so start at a random point of the block rather than at its
  // head: a server an earlier file left in its shutdown does not make every file wait on it.
  next ??= start + Math.floor(Math.random() * BLOCK);
  for (let tried = 0; tried < BLOCK; tried++) {
    const port = next;
    next = next + 1 >= end ? start : next + 1;
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port in ${start}-${end - 1}`);
}
