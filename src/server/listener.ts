import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";

type RequestHandler = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** PEM certificate chain, private key and, for mutual TLS, the CA that signs client certificates. */
export interface ListenerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer | undefined;
}

/** Settings of the listening socket. */
export interface ListenerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /**
   * PEM certificate chain and private key; without them the listener speaks cleartext. With
   * clientCa, clients are asked for a certificate, which the CA must have signed for the caller
   * to be authenticated by it. A client without one may still connect and use an API key.
   */
  readonly tls?: ListenerTls;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS advertised to every client. */
  readonly maxConcurrentStreams: number;
  /**
   * Age after which an HTTP/2 connection gets GOAWAY, give or take 10%, so that long-lived clients
   * reconnect and spread over replicas added since. Its calls in flight finish. 0 or unset: never.
   */
  readonly maxConnectionAgeMs?: number;
  readonly handler: RequestHandler;
}

/** A bound listener. */
export interface Listener {
  readonly port: number;
  readonly host: string;
  /**
   * Replaces the certificate, key and client CA for connections made from now on; open connections
   * keep theirs. Throws when the listener was started without TLS or the PEM data is invalid.
   */
  setTls(tls: ListenerTls): void;
  /**
   * Stops accepting connections, lets open requests finish for up to graceMs, then ends the rest.
   * Resolves with the number of connections ended at the deadline with requests still open.
   */
  close(graceMs: number): Promise<number>;
}

/** Largest header block a client may send, in bytes. Requests carry a few short headers. */
const MAX_HEADER_BYTES = 16 * 1024;

/** Start of the HTTP/2 client connection preface ("PRI * HTTP/2.0"). */
const HTTP2_PREFACE_START = Buffer.from("PRI * HTTP/2.0");

/** Time a new connection gets to send its first bytes, or to finish the TLS handshake. */
const FIRST_BYTES_TIMEOUT_MS = 10_000;

/** Time an HTTP/1.1 client gets to send a request's headers, and the whole request. */
const HTTP1_HEADERS_TIMEOUT_MS = 10_000;
const HTTP1_REQUEST_TIMEOUT_MS = 30_000;

/** Time an HTTP/2 connection may stay idle with no open stream before the server sends GOAWAY. */
const HTTP2_IDLE_TIMEOUT_MS = 120_000;

/**
 * Listens on one port for HTTP/2 and HTTP/1.1, so that gRPC, gRPC-Web and Connect clients all
 * reach the same handler. With TLS, ALPN picks the version. In cleartext, HTTP/2 clients must use
 * prior knowledge (h2c); the first bytes of each connection tell HTTP/2 from HTTP/1.1.
 */
export async function listen(options: ListenerOptions): Promise<Listener> {
  const http2Options: http2.ServerOptions = {
    settings: { maxConcurrentStreams: options.maxConcurrentStreams, maxHeaderListSize: MAX_HEADER_BYTES },
    maxSessionMemory: 16,
  };
  const sockets = new Set<net.Socket>();
  const sessions: Http2Sessions = { open: new Set(), closing: false };
  const http1Responses = trackHttp1Responses();
  const handler = http1Responses.wrap(options.handler);

  let server: net.Server;
  let http1: http.Server | undefined;
  if (options.tls) {
    server = http2.createSecureServer(
      {
        ...http2Options,
        cert: options.tls.cert,
        key: options.tls.key,
        allowHTTP1: true,
        handshakeTimeout: FIRST_BYTES_TIMEOUT_MS,
        ...(options.tls.clientCa ? { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
      },
      handler,
    );
  } else {
    const h2c = http2.createServer(http2Options, handler);
    h2c.on("session", (session) => trackSession(sessions, session, options.maxConnectionAgeMs ?? 0));
    http1 = createHttp1Server(handler);
    server = net.createServer((socket) => routeByPreface(socket, h2c, http1 as http.Server));
  }
  server.on("session", (session: http2.ServerHttp2Session) => trackSession(sessions, session, options.maxConnectionAgeMs ?? 0));
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });

  const address = server.address() as AddressInfo;
  return {
    port: address.port,
    host: options.host,
    setTls: (tls) => {
      if (!options.tls) {
        throw new Error("the listener was started without TLS");
      }
      (server as http2.Http2SecureServer).setSecureContext({ cert: tls.cert, key: tls.key, ...(tls.clientCa ? { ca: tls.clientCa } : {}) });
    },
    close: (graceMs) => closeGracefully({ server, http1, http1Responses, sockets, sessions, graceMs }),
  };
}

/**
 * Creates the cleartext HTTP/1.1 server. The shared socket hands it connections, so it never
 * listens itself. Node.js 20 starts the timer that enforces headersTimeout and requestTimeout on
 * the "listening" event, so the function emits that event.
 */
function createHttp1Server(handler: ListenerOptions["handler"]): http.Server {
  const server = http.createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: HTTP1_HEADERS_TIMEOUT_MS,
      requestTimeout: HTTP1_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: 1000,
    },
    handler,
  );
  server.emit("listening");
  return server;
}

/**
 * Hands a cleartext connection to the HTTP/2 or the HTTP/1.1 server, by whether its first bytes
 * are the HTTP/2 preface. Bytes are gathered until they decide it; a connection that sends
 * nothing within FIRST_BYTES_TIMEOUT_MS is closed.
 */
function routeByPreface(socket: net.Socket, h2c: http2.Http2Server, http1: http.Server): void {
  let received = Buffer.alloc(0);
  socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
  socket.on("error", () => socket.destroy());

  const onData = (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    const length = Math.min(received.length, HTTP2_PREFACE_START.length);
    const matches = received.subarray(0, length).equals(HTTP2_PREFACE_START.subarray(0, length));
    if (matches && length < HTTP2_PREFACE_START.length) {
      return;
    }

    socket.off("data", onData);
    socket.pause();
    socket.setTimeout(0);
    socket.unshift(received);
    (matches ? h2c : http1).emit("connection", socket);
    process.nextTick(() => socket.resume());
  };
  socket.on("data", onData);
}

/** Open HTTP/2 sessions, and whether the listener is closing. */
interface Http2Sessions {
  readonly open: Set<http2.ServerHttp2Session>;
  closing: boolean;
}

/**
 * Tracks an HTTP/2 session for shutdown, and closes it with GOAWAY once it has been idle for
 * HTTP2_IDLE_TIMEOUT_MS with no open stream. Sessions with open streams, such as a health Watch,
 * stay open however quiet they are.
 */
function trackSession(sessions: Http2Sessions, session: http2.ServerHttp2Session, maxAgeMs: number): void {
  sessions.open.add(session);
  session.once("close", () => sessions.open.delete(session));
  if (maxAgeMs > 0) {
    // The jitter keeps connections opened together from reconnecting together.
    const age = setTimeout(() => session.close(), maxAgeMs * (0.9 + Math.random() * 0.2));
    age.unref();
    session.once("close", () => clearTimeout(age));
  }
  if (sessions.closing) {
    // The connection was accepted before the listener closed, but its first bytes came after.
    // The streams that came with the client's SETTINGS are served, then GOAWAY refuses the rest.
    session.once("remoteSettings", () => setImmediate(() => session.close()));
  }

  let openStreams = 0;
  session.on("stream", (stream) => {
    openStreams++;
    stream.once("close", () => openStreams--);
  });
  session.setTimeout(HTTP2_IDLE_TIMEOUT_MS, () => {
    if (openStreams === 0) {
      session.close();
    }
  });
}

/** HTTP/1.1 responses in flight, and the switch that ends keep-alive for them at shutdown. */
interface Http1Responses {
  /** Wraps the request handler, so that it tracks each HTTP/1.1 response until it closes. */
  wrap(handler: RequestHandler): RequestHandler;
  /**
   * Makes every HTTP/1.1 response whose headers are not sent yet, and every later one, carry
   * "Connection: close", so that its client opens a new connection for its next request. Reused,
   * the connection would be closed as idle, maybe just as the client sends that request.
   */
  endKeepAlive(): void;
}

function trackHttp1Responses(): Http1Responses {
  const pending = new Set<http.ServerResponse>();
  let closing = false;
  const closeAfterResponse = (response: http.ServerResponse) => {
    if (!response.headersSent) {
      response.setHeader("connection", "close");
    }
  };

  return {
    wrap: (handler) => (request, response) => {
      // HTTP/2 responses, Http2ServerResponse, are no http.ServerResponse; GOAWAY ends their connections.
      if (response instanceof http.ServerResponse) {
        if (closing) {
          closeAfterResponse(response);
        } else {
          pending.add(response);
          response.once("close", () => pending.delete(response));
        }
      }
      handler(request, response);
    },
    endKeepAlive: () => {
      closing = true;
      for (const response of pending) {
        closeAfterResponse(response);
      }
      pending.clear();
    },
  };
}

interface ClosingState {
  readonly server: net.Server;
  readonly http1: http.Server | undefined;
  readonly http1Responses: Http1Responses;
  readonly sockets: Set<net.Socket>;
  readonly sessions: Http2Sessions;
  readonly graceMs: number;
}

async function closeGracefully(state: ClosingState): Promise<number> {
  const closed = new Promise<void>((resolve) => state.server.close(() => resolve()));
  state.sessions.closing = true;
  for (const session of state.sessions.open) {
    // Sends GOAWAY: the client opens no new streams here, and open ones may finish.
    session.close();
  }

  // HTTP/1.1 connections close once idle: at once, or when their request in flight completes.
  state.http1Responses.endKeepAlive();
  const http1 = state.http1;
  http1?.closeIdleConnections();
  const idleSweep = setInterval(() => http1?.closeIdleConnections(), 50);
  let ended = 0;
  const timer = setTimeout(() => {
    ended = state.sockets.size;
    for (const socket of state.sockets) {
      socket.destroy();
    }
  }, state.graceMs);
  await closed;
  clearTimeout(timer);
  clearInterval(idleSweep);
  // Stops the timer that createHttp1Server started; the server itself never listened.
  http1?.close(() => undefined);
  return ended;
}
