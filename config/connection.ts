/**
 * Connecting to Temporal with messages an operator can act on: an unreachable server is named by
 * its address, never shown as a stack trace, and a refused TLS connection says what the server wants
 * (a client certificate, one signed by another CA, TLS, or no TLS).
 *
 * The settings (address, namespace, TLS, API key) come from Temporal's standard client configuration:
 * see config/temporalProfile.ts. The client and the worker connect with the same options.
 */
import { Client, Connection } from '@temporalio/client';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { DEFAULT_TASK_QUEUE } from '../common/constants';
import { loadTemporalSettings, type TemporalFlags, type TemporalSettings } from './temporalProfile';

export { TemporalConfigError } from './temporalProfile';

export interface TemporalTarget extends TemporalSettings {
  taskQueue: string;
}

/** The task queue Lifeboat's workers poll: LIFEBOAT_TASK_QUEUE, else `lifeboat`. */
export function taskQueueFrom(env: Record<string, string | undefined> = process.env): string {
  return env.LIFEBOAT_TASK_QUEUE ?? DEFAULT_TASK_QUEUE;
}

/**
 * Address, namespace, TLS and API key from the flags, then the environment, then the Temporal profile,
 * then the defaults; throws a TemporalConfigError naming a setting that cannot be used.
 */
export function temporalTarget(flags: TemporalFlags = {}, env = process.env): TemporalTarget {
  return { ...loadTemporalSettings(flags, env), taskQueue: taskQueueFrom(env) };
}

export class UnreachableError extends Error {
  constructor(
    readonly address: string,
    cause: unknown,
    /** What the server wants instead, when a look at its TLS handshake tells (see {@link connectionFailure}). */
    explanation?: string,
  ) {
    const detail = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    super(
      explanation ??
        `cannot reach the Temporal server at ${address} (${detail}). Is it running? ` +
          '`npm run up` starts one on localhost:7233; --address or TEMPORAL_ADDRESS point elsewhere.',
    );
    this.name = 'UnreachableError';
  }
}

type Probe =
  | { outcome: 'accepted' | 'closed' | 'silent'; secure: boolean }
  | { outcome: 'error'; secure: boolean; code: string; message: string };

const PROBE_TIMEOUT_MS = 3000;
// The HTTP/2 client preface and an empty SETTINGS frame: a server that accepted the handshake answers
// with its own SETTINGS; one that refuses the client certificate says so (or hangs up) instead. In
// TLS 1.3 the client finishes its handshake before the server has checked the certificate.
const H2_PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

/** One TLS handshake with `target`'s certificates, to learn why a connection failed. Sends no API key. */
function probeTls(target: TemporalSettings, verifyServer: boolean): Promise<Probe | undefined> {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(target.address);
  if (!match) return Promise.resolve(undefined);
  const host = match[1] ?? match[2];
  const config = typeof target.connection.tls === 'object' ? target.connection.tls : {};
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port: Number(match[3]),
      // Node refuses an IP address as the SNI name (RFC 6066); it checks the IP against the certificate.
      servername: config.serverNameOverride ?? (net.isIP(host) ? undefined : host),
      ca: config.serverRootCACertificate ? Buffer.from(config.serverRootCACertificate) : undefined,
      cert: config.clientCertPair ? Buffer.from(config.clientCertPair.crt) : undefined,
      key: config.clientCertPair ? Buffer.from(config.clientCertPair.key) : undefined,
      ALPNProtocols: ['h2'],
      rejectUnauthorized: verifyServer,
    });
    let secure = false;
    const done = (probe: Probe) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(probe);
    };
    const timer = setTimeout(() => done({ outcome: 'silent', secure }), PROBE_TIMEOUT_MS);
    socket.once('secureConnect', () => {
      secure = true;
      socket.write(H2_PREFACE);
    });
    socket.once('data', () => done({ outcome: 'accepted', secure }));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({ outcome: 'error', secure, code: err.code ?? '', message: err.message.split('\n')[0] }),
    );
    socket.once('close', () => done({ outcome: 'closed', secure }));
  });
}

const SERVER_CERT_UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);
const NOT_TLS = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_HTTP_REQUEST',
]);
/** Alerts a server sends about a client certificate it does not accept (TLS 1.2 and 1.3 spellings). */
const CLIENT_CERT_REFUSED =
  /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|DECRYPT_ERROR)$/;

const SET_CLIENT_CERT =
  'set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, or tls.client_cert_path and tls.client_key_path in the Temporal profile';

/** Whether the server's alert says it wants a client certificate and got none (TLS 1.3, or 1.2). */
function wantsClientCert(probe: Probe): boolean {
  if (probe.outcome === 'closed') return probe.secure;
  return (
    probe.outcome === 'error' &&
    /ALERT_(CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE)$/.test(probe.code)
  );
}

/** Why TLS with `target` fails, in the operator's words; undefined when the handshake does not tell. */
async function tlsExplanation(target: TemporalTarget): Promise<string | undefined> {
  const at = `the Temporal server at ${target.address}`;
  const config = target.connection.tls;
  if (config === undefined || config === false) {
    // A plaintext client gets no answer from a TLS port: find out whether TLS is what it wants.
    const probe = await probeTls(target, false);
    const alert = probe?.outcome === 'error' && /_ALERT_/.test(probe.code);
    if (!probe || (!probe.secure && !alert)) return undefined;
    if (wantsClientCert(probe))
      return `${at} speaks TLS and requires a client certificate; this connection has neither: ${SET_CLIENT_CERT}`;
    return `${at} speaks TLS and this connection does not: set TEMPORAL_TLS=true, or add a tls table to the Temporal profile`;
  }
  const probe = await probeTls(target, true);
  if (!probe) return undefined;
  const hasCert = typeof config === 'object' && config.clientCertPair !== undefined;
  if (!hasCert && wantsClientCert(probe))
    return `${at} requires a client certificate and none is configured: ${SET_CLIENT_CERT}`;
  if (probe.outcome === 'closed' && probe.secure && hasCert)
    // Hung up right after the handshake: it looked at the client certificate and turned it down.
    return `${at} refused the client certificate ${target.clientCertificate}: it closed the connection after the handshake; use one signed by a CA the server trusts, and not expired`;
  if (probe.outcome !== 'error') return undefined;
  const { code, message } = probe;
  if (NOT_TLS.has(code))
    return `${at} does not speak TLS: remove the TLS settings (and any API key, which turns TLS on), or use the server's TLS address`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `${at} presented a certificate for another name (${message}): set TEMPORAL_TLS_SERVER_NAME or tls.server_name in the Temporal profile to a name it is for`;
  if (SERVER_CERT_UNTRUSTED.has(code))
    return `${at} presented a certificate this client does not trust (${message}): set TEMPORAL_TLS_SERVER_CA_CERT_PATH or tls.server_ca_cert_path in the Temporal profile to the CA that signed it`;
  if (hasCert && CLIENT_CERT_REFUSED.test(code)) {
    const alert = code
      .replace(/^ERR_SSL_\w+?_ALERT_/, '')
      .toLowerCase()
      .replace(/_/g, ' ');
    return `${at} refused the client certificate ${target.clientCertificate}: TLS alert '${alert}'; use one signed by a CA the server trusts, and not expired`;
  }
  return undefined;
}

/**
 * The error to show for a failed connection to `target` (client or worker): what the server wants
 * when its TLS handshake tells, else that it cannot be reached.
 */
export async function connectionFailure(target: TemporalTarget, err: unknown): Promise<UnreachableError> {
  const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
  // The server answered, and turned the credentials down.
  if (/\b(UNAUTHENTICATED|PERMISSION_DENIED|Unauthenticated|PermissionDenied)\b/.test(detail)) {
    return new UnreachableError(
      target.address,
      err,
      `the Temporal server at ${target.address} refused the credentials (${detail}): check TEMPORAL_API_KEY or api_key in the Temporal profile, and the client certificate`,
    );
  }
  const explanation = await tlsExplanation(target).catch(() => undefined);
  return new UnreachableError(target.address, err, explanation);
}

/** Long enough for a healthy server to answer; a client refused in its TLS handshake waits for its deadline. */
const EXPLAIN_AFTER_MS = 1000;

export async function connectClient(
  target: TemporalTarget,
): Promise<{ client: Client; connection: Connection }> {
  const connecting = (async () => {
    const connection = await Connection.connect({ ...target.connection, connectTimeout: '5 seconds' });
    try {
      // connect() may succeed lazily; one cheap call proves the server answers.
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (err) {
      await connection.close();
      throw err;
    }
  })();
  // The client retries a refused TLS handshake until its deadline: when a second has gone by, the
  // handshake itself says what the server wants, and the operator hears it then.
  let timer: NodeJS.Timeout | undefined;
  const refused = new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      tlsExplanation(target).then(
        (why) => why && resolve(why),
        () => undefined,
      );
    }, EXPLAIN_AFTER_MS);
  });
  let connection: Connection | string;
  try {
    connection = await Promise.race([connecting, refused]);
  } catch (err) {
    throw await connectionFailure(target, err);
  } finally {
    clearTimeout(timer);
  }
  if (typeof connection === 'string') {
    connecting.then(
      (late) => late.close(),
      () => undefined,
    );
    throw new UnreachableError(target.address, connection, connection);
  }
  return { client: new Client({ connection, namespace: target.namespace }), connection };
}
