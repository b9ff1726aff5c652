/**
 * The standard gRPC health checking protocol, grpc.health.v1, backed by a status store that the
 * server updates as its services start, fail and shut down.
 *
 * @module
 */
import { setMaxListeners } from "node:events";

import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";

import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/ts/grpc/health/v1/health_pb.js";

export { ServingStatus };

/** Callback that {@link HealthStatus} calls synchronously, inside `set` or `shutdown`, for each status change. */
export type HealthStatusListener = (service: string, status: ServingStatus) => void;

/**
 * Serving status of each service, keyed by fully-qualified service name, with "" for the server as
 * a whole. A new store contains only "", set to SERVING. Listeners hear only real changes: setting a
 * service to the status it already has calls no listener.
 */
export class HealthStatus {
  readonly #statuses = new Map<string, ServingStatus>([["", ServingStatus.SERVING]]);
  readonly #listeners = new Set<HealthStatusListener>();
  readonly #shutdown = new AbortController();

  constructor() {
    // Every open Watch stream adds an abort listener to the shutdown signal, so Node's default
    // limit of 10 would report a leak where there is none.
    setMaxListeners(0, this.#shutdown.signal);
  }

  /** Returns the status of the service, or undefined if it was never set. */
  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /**
   * Sets the status of the service, "" for the whole server, and notifies the listeners if it
   * changed. After {@link shutdown}, calls are ignored, so that no late update can report a
   * stopping server as SERVING.
   *
   * @throws TypeError if status is SERVICE_UNKNOWN, which only Watch sends, for a service without
   *   a status.
   */
  set(service: string, status: ServingStatus): void {
    if (status === ServingStatus.SERVICE_UNKNOWN) {
      throw new TypeError(
        `invalid health status SERVICE_UNKNOWN for service "${service}". Set NOT_SERVING for a service that is down.`,
      );
    }
    if (this.isShutDown) {
      return;
    }
    this.#update(service, status);
  }

  /** Adds a change listener and returns a function that removes it. */
  onChange(listener: HealthStatusListener): () => void {
    // Wrapped, so that adding the same function twice registers two listeners that unsubscribe apart.
    const registered: HealthStatusListener = (service, status) => listener(service, status);
    this.#listeners.add(registered);
    return () => {
      this.#listeners.delete(registered);
    };
  }

  /** Number of registered change listeners: one for each open Watch stream, plus any added by onChange. */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Whether {@link shutdown} has been called. */
  get isShutDown(): boolean {
    return this.#shutdown.signal.aborted;
  }

  /** Signal that aborts when {@link shutdown} is called, after every status is NOT_SERVING. */
  get shutdownSignal(): AbortSignal {
    return this.#shutdown.signal;
  }

  /**
   * Sets every service, and the server as a whole, to NOT_SERVING and ignores later calls to
   * {@link set}. Open Watch streams send NOT_SERVING and then end, so they do not hold a graceful
   * server close open. Calling it again does nothing.
   */
  shutdown(): void {
    if (this.isShutDown) {
      return;
    }
    for (const service of [...this.#statuses.keys()]) {
      this.#update(service, ServingStatus.NOT_SERVING);
    }
    this.#shutdown.abort();
  }

  #update(service: string, status: ServingStatus): void {
    if (this.#statuses.get(service) === status) {
      return;
    }
    this.#statuses.set(service, status);
    for (const listener of [...this.#listeners]) {
      listener(service, status);
    }
  }
}

/**
 * Registers grpc.health.v1.Health on the router, serving the statuses of the given store.
 *
 * Check returns the service's status, or fails with NOT_FOUND for a service without one.
 * Watch sends the current status at once (SERVICE_UNKNOWN for a service without one, and the
 * stream stays open), then each change. When updates come faster than the client reads, it skips
 * to the newest status. A Watch stream has no server-side time limit: it ends when the client
 * cancels it or its deadline passes, when the connection closes, or when the store shuts down.
 */
export function registerHealth(router: ConnectRouter, status: HealthStatus): ConnectRouter {
  return router.service(Health, {
    check(request) {
      const current = status.get(request.service);
      if (current === undefined) {
        throw new ConnectError(
          `health status of service "${request.service}" not found. ` +
            'Check "" for the whole server or a registered service name.',
          Code.NotFound,
        );
      }
      return { status: current };
    },

    watch(request, context) {
      return watchStatus(status, request.service, context.signal);
    },
  });
}

/** Yields the service's current status, then each change, until the signal or the store's shutdown aborts. */
async function* watchStatus(store: HealthStatus, service: string, signal: AbortSignal) {
  let latest = store.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
  let wake: (() => void) | undefined;
  const onWake = () => wake?.();

  const removeListener = store.onChange((changed, status) => {
    if (changed === service) {
      latest = status;
      onWake();
    }
  });
  signal.addEventListener("abort", onWake);
  store.shutdownSignal.addEventListener("abort", onWake);

  try {
    let sent: ServingStatus | undefined;
    while (!signal.aborted) {
      if (latest !== sent) {
        sent = latest;
        yield { status: sent };
      } else if (store.isShutDown) {
        return;
      } else {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    }
  } finally {
    removeListener();
    signal.removeEventListener("abort", onWake);
    store.shutdownSignal.removeEventListener("abort", onWake);
  }
}
