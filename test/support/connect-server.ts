import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { listen, type Listener } from "../../src/server/listener.js";

/** A connect-node server on a free loopback port, serving the given routes only. */
export interface RunningServer {
  readonly listener: Listener;
  /** host:port, for grpc-js. */
  readonly address: string;
  /** Base URL, for connect-node clients and buf curl. */
  readonly url: string;
}

/** Starts the service's listener with a plain connect-node handler for the given routes. */
export async function startServer(routes: (router: ConnectRouter) => void): Promise<RunningServer> {
  const listener = await listen({
    host: "127.0.0.1",
    port: 0,
    maxConcurrentStreams: 100,
    handler: connectNodeAdapter({ routes }),
  });
  return { listener, address: `127.0.0.1:${listener.port}`, url: `http://127.0.0.1:${listener.port}` };
}

/** Stops the server, cutting open connections at once. */
export async function stopServer(server: RunningServer): Promise<void> {
  await server.listener.close(0);
}
