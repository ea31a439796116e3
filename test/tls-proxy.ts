/**
 * Test fixtures for secured connections: certificates made with the `openssl` CLI, and a
 * TLS-terminating gRPC proxy in front of the plaintext dev server that requires a client certificate
 * signed by its CA (as a Temporal Cloud namespace or an mTLS-configured server does). The proxy
 * negotiates HTTP/2 only and records the `authorization` header of every request it forwards.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as path from 'node:path';

/** The certificate files a test hands to Lifeboat: paths, never contents, in config and env. */
export interface TestCertificates {
  dir: string;
  /** The CA that signed the server's certificate and `client`'s. */
  ca: string;
  server: { cert: string; key: string };
  /** A client certificate the proxy trusts. */
  client: { cert: string; key: string };
  /** A client certificate signed by another CA, which the proxy refuses. */
  untrusted: { cert: string; key: string };
}

/** Runs `openssl` in `dir` with `args` (space-separated; none has a space) and then `more`. */
function openssl(dir: string, args: string, ...more: string[]): void {
  execFileSync('openssl', [...args.split(' '), ...more], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const NEW_KEY = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';

/** Signs `<name>.crt` with the CA `<ca>` for a fresh key `<name>.key`; `ext` lines go into the cert. */
function issue(dir: string, name: string, ca: string, subject: string, ext: string[]): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
  openssl(dir, `req -new ${NEW_KEY} -keyout ${name}.key -out ${name}.csr -subj`, subject);
  openssl(
    dir,
    `x509 -req -in ${name}.csr -CA ${ca}.crt -CAkey ${ca}.key -CAcreateserial -days 2 -sha256 ` +
      `-extfile ${name}.ext -out ${name}.crt`,
  );
}

function selfSignedCa(dir: string, name: string, subject: string): void {
  openssl(
    dir,
    `req -x509 ${NEW_KEY} -keyout ${name}.key -out ${name}.crt -days 2 ` +
      '-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -subj',
    subject,
  );
}

/** A CA, a server certificate for 127.0.0.1 and localhost, a trusted and an untrusted client certificate. */
export function makeCertificates(dir: string): TestCertificates {
  selfSignedCa(dir, 'ca', '/CN=Lifeboat test CA');
  selfSignedCa(dir, 'other-ca', '/CN=Someone else CA');
  issue(dir, 'server', 'ca', '/CN=localhost', [
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    'extendedKeyUsage=serverAuth',
  ]);
  issue(dir, 'client', 'ca', '/CN=lifeboat-operator', ['extendedKeyUsage=clientAuth']);
  issue(dir, 'untrusted', 'other-ca', '/CN=intruder', ['extendedKeyUsage=clientAuth']);
  const pair = (name: string) => ({
    cert: path.join(dir, `${name}.crt`),
    key: path.join(dir, `${name}.key`),
  });
  return {
    dir,
    ca: path.join(dir, 'ca.crt'),
    server: pair('server'),
    client: pair('client'),
    untrusted: pair('untrusted'),
  };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** The headers worth passing on: no pseudo-headers (the new request makes its own), no hop-by-hop ones. */
function forwardable(headers: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith(':') && !HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
  }
  return out;
}

export interface TlsProxy {
  address: string;
  /** Every `authorization` header value the proxy has forwarded, in order. */
  authorizations: string[];
  close: () => Promise<void>;
}

/** Listens on 127.0.0.1:`port` and forwards each HTTP/2 stream to the plaintext server at `upstream`. */
export async function startTlsProxy(
  certs: TestCertificates,
  port: number,
  upstream: string,
): Promise<TlsProxy> {
  const authorizations: string[] = [];
  // One plaintext HTTP/2 session to the dev server, made again if the server closed it (GOAWAY).
  let upstreamSession: http2.ClientHttp2Session | undefined;
  const toUpstream = (): http2.ClientHttp2Session => {
    if (!upstreamSession || upstreamSession.closed || upstreamSession.destroyed) {
      upstreamSession = http2.connect(`http://${upstream}`);
      upstreamSession.on('error', () => undefined);
    }
    return upstreamSession;
  };
  const server = http2.createSecureServer({
    key: fs.readFileSync(certs.server.key),
    cert: fs.readFileSync(certs.server.cert),
    ca: fs.readFileSync(certs.ca),
    requestCert: true,
    rejectUnauthorized: true,
    allowHTTP1: false,
  });
  server.on('stream', (stream, headers) => {
    const authorization = headers.authorization;
    if (typeof authorization === 'string') authorizations.push(authorization);
    const upstreamReq = toUpstream().request({
      ':method': headers[':method'],
      ':path': headers[':path'],
      ':scheme': 'http',
      ':authority': upstream,
      ...forwardable(headers),
    });
    stream.pipe(upstreamReq);
    upstreamReq.on('response', (responseHeaders, flags) => {
      if (stream.destroyed) return;
      const head = { ':status': responseHeaders[':status'], ...forwardable(responseHeaders) };
      // A trailers-only response (how gRPC answers most errors) carries its status in these headers.
      if (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) return stream.respond(head, { endStream: true });
      stream.respond(head, { waitForTrailers: true });
      upstreamReq.pipe(stream);
    });
    // gRPC puts its status in the trailers: pass them on when the response body has ended.
    let trailers: http2.OutgoingHttpHeaders = {};
    upstreamReq.on('trailers', (t) => (trailers = forwardable(t)));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    upstreamReq.on('error', () => stream.destroy());
    stream.on('error', () => upstreamReq.destroy());
    stream.on('close', () => {
      if (!upstreamReq.closed) upstreamReq.close(http2.constants.NGHTTP2_CANCEL);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  return {
    address: `127.0.0.1:${port}`,
    authorizations,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.destroy();
      upstreamSession?.close();
      await closed;
    },
  };
}
