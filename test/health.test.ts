import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from "../gen/ts/grpc/health/v1/health_pb.js";
import { TokenService } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { HealthStatus, ServingStatus, registerHealth } from "../src/server/health.js";
import { registerReflection } from "../src/server/reflection.js";
import { startServer, stopServer, type RunningServer } from "./support/connect-server.js";

const TOKEN_SERVICE = "red5.token.v1.TokenService";

const UNKNOWN_SERVICE_MESSAGE =
  'health status of service "red5.unknown.v1.Nothing" not found. ' +
  'Check "" for the whole server or a registered service name.';

/** Maximum wait for one stream message or state change before a test fails. */
const WAIT_MS = 2000;

const checkMethod: grpc.MethodDefinition<HealthCheckRequest, HealthCheckResponse> = {
  path: "/grpc.health.v1.Health/Check",
  requestStream: false,
  responseStream: false,
  requestSerialize: (message) => Buffer.from(toBinary(HealthCheckRequestSchema, message)),
  requestDeserialize: (bytes) => fromBinary(HealthCheckRequestSchema, bytes),
  responseSerialize: (message) => Buffer.from(toBinary(HealthCheckResponseSchema, message)),
  responseDeserialize: (bytes) => fromBinary(HealthCheckResponseSchema, bytes),
};

const watchMethod: grpc.MethodDefinition<HealthCheckRequest, HealthCheckResponse> = {
  ...checkMethod,
  path: "/grpc.health.v1.Health/Watch",
  responseStream: true,
};


function check(client: grpc.Client, service: string): Promise<HealthCheckResponse> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      checkMethod.path,
      checkMethod.requestSerialize,
      checkMethod.responseDeserialize,
      create(HealthCheckRequestSchema, { service }),
      (error, response) => (error || response === undefined ? reject(error) : resolve(response)),
    );
  });
}

function watch(client: grpc.Client, service: string): grpc.ClientReadableStream<HealthCheckResponse> {
  return client.makeServerStreamRequest(
    watchMethod.path,
    watchMethod.requestSerialize,
    watchMethod.responseDeserialize,
    create(HealthCheckRequestSchema, { service }),
  );
}

async function withTimeout<T>(promise: Promise<T>, awaited: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${awaited}`)), WAIT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function nextStatus(messages: AsyncIterator<HealthCheckResponse>): Promise<ServingStatus> {
  const result = await withTimeout(messages.next(), "the next Watch message");
  if (result.done === true) {
    throw new Error("Watch stream ended before the next message");
  }
  return result.value.status;
}

describe("HealthStatus", () => {
  it("starts with the server SERVING", () => {
    const status = new HealthStatus();

    expect(status.get("")).toBe(ServingStatus.SERVING);
    expect(status.get(TOKEN_SERVICE)).toBeUndefined();
    expect(status.isShutDown).toBe(false);
  });

  it("rejects SERVICE_UNKNOWN in set", () => {
    const status = new HealthStatus();

    expect(() => status.set(TOKEN_SERVICE, ServingStatus.SERVICE_UNKNOWN)).toThrow(
      new TypeError(
        `invalid health status SERVICE_UNKNOWN for service "${TOKEN_SERVICE}". ` +
          "Set NOT_SERVING for a service that is down.",
      ),
    );
    expect(status.get(TOKEN_SERVICE)).toBeUndefined();
  });

  it("notifies listeners of changes only", () => {
    const status = new HealthStatus();
    const changes: [string, ServingStatus][] = [];
    const removeListener = status.onChange((service, value) => changes.push([service, value]));

    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    status.set(TOKEN_SERVICE, ServingStatus.NOT_SERVING);
    status.set("", ServingStatus.SERVING);
    removeListener();
    status.set(TOKEN_SERVICE, ServingStatus.SERVING);

    expect(changes).toEqual([
      [TOKEN_SERVICE, ServingStatus.SERVING],
      [TOKEN_SERVICE, ServingStatus.NOT_SERVING],
    ]);
    expect(status.listenerCount).toBe(0);
  });

  it("counts a function added twice as two listeners", () => {
    const status = new HealthStatus();
    const listener = vi.fn();
    const removeFirst = status.onChange(listener);
    const removeSecond = status.onChange(listener);

    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    removeFirst();

    expect(listener).toHaveBeenCalledTimes(2);
    expect(status.listenerCount).toBe(1);
    removeSecond();
    expect(status.listenerCount).toBe(0);
  });

  it("shutdown sets everything NOT_SERVING and ignores later set", () => {
    const status = new HealthStatus();
    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    status.set("grpc.health.v1.Health", ServingStatus.NOT_SERVING);
    const changes: [string, ServingStatus][] = [];
    status.onChange((service, value) => changes.push([service, value]));

    status.shutdown();
    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    status.shutdown();

    expect(status.isShutDown).toBe(true);
    expect(status.shutdownSignal.aborted).toBe(true);
    expect(status.get("")).toBe(ServingStatus.NOT_SERVING);
    expect(status.get(TOKEN_SERVICE)).toBe(ServingStatus.NOT_SERVING);
    expect(status.get("grpc.health.v1.Health")).toBe(ServingStatus.NOT_SERVING);
    expect(changes).toEqual([
      ["", ServingStatus.NOT_SERVING],
      [TOKEN_SERVICE, ServingStatus.NOT_SERVING],
    ]);
  });
});

describe("Health service", () => {
  let status: HealthStatus;
  let running: RunningServer;
  let client: grpc.Client;

  beforeEach(async () => {
    status = new HealthStatus();
    running = await startServer((router) => {
      registerHealth(router, status);
      registerReflection(router, { services: [Health, TokenService] });
      router.service(TokenService, {});
    });
    client = new grpc.Client(running.address, grpc.credentials.createInsecure());
  });

  afterEach(async () => {
    client.close();
    await stopServer(running);
  });

  it("Check returns the status set for the server and a service", async () => {
    status.set("", ServingStatus.SERVING);
    status.set(TOKEN_SERVICE, ServingStatus.SERVING);

    expect((await check(client, "")).status).toBe(ServingStatus.SERVING);
    expect((await check(client, TOKEN_SERVICE)).status).toBe(ServingStatus.SERVING);

    status.set(TOKEN_SERVICE, ServingStatus.NOT_SERVING);
    expect((await check(client, TOKEN_SERVICE)).status).toBe(ServingStatus.NOT_SERVING);
    expect((await check(client, "")).status).toBe(ServingStatus.SERVING);
  });

  it("Check fails with NOT_FOUND for an unknown service", async () => {
    const error = await check(client, "red5.unknown.v1.Nothing").then(
      () => undefined,
      (reason: unknown) => reason as grpc.ServiceError,
    );

    expect(error?.code).toBe(grpc.status.NOT_FOUND);
    expect(error?.details).toBe(UNKNOWN_SERVICE_MESSAGE);
  });

  it("Check reports NOT_SERVING after shutdown", async () => {
    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    status.shutdown();

    expect((await check(client, "")).status).toBe(ServingStatus.NOT_SERVING);
    expect((await check(client, TOKEN_SERVICE)).status).toBe(ServingStatus.NOT_SERVING);
  });

  it("Watch sends the current status, then each change", async () => {
    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    const call = watch(client, TOKEN_SERVICE);
    const messages = call[Symbol.asyncIterator]();

    expect(await nextStatus(messages)).toBe(ServingStatus.SERVING);

    status.set(TOKEN_SERVICE, ServingStatus.NOT_SERVING);
    expect(await nextStatus(messages)).toBe(ServingStatus.NOT_SERVING);

    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    expect(await nextStatus(messages)).toBe(ServingStatus.SERVING);

    call.cancel();
  });

  it("Watch ends after NOT_SERVING when the store shuts down", async () => {
    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    const call = watch(client, TOKEN_SERVICE);
    const finalStatus = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    const messages = call[Symbol.asyncIterator]();
    expect(await nextStatus(messages)).toBe(ServingStatus.SERVING);

    status.shutdown();

    expect(await nextStatus(messages)).toBe(ServingStatus.NOT_SERVING);
    expect((await withTimeout(messages.next(), "the end of the Watch stream")).done).toBe(true);
    expect((await withTimeout(finalStatus, "the Watch status")).code).toBe(grpc.status.OK);
    await vi.waitFor(() => expect(status.listenerCount).toBe(0), { timeout: WAIT_MS });
  });

  it("Watch of an unknown service stays open until it is set", async () => {
    const call = watch(client, TOKEN_SERVICE);
    const messages = call[Symbol.asyncIterator]();

    expect(await nextStatus(messages)).toBe(ServingStatus.SERVICE_UNKNOWN);

    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    expect(await nextStatus(messages)).toBe(ServingStatus.SERVING);

    call.cancel();
  });

  it("Watch of an unknown service ends on shutdown", async () => {
    const call = watch(client, TOKEN_SERVICE);
    const messages = call[Symbol.asyncIterator]();
    expect(await nextStatus(messages)).toBe(ServingStatus.SERVICE_UNKNOWN);

    status.shutdown();

    expect((await withTimeout(messages.next(), "the end of the Watch stream")).done).toBe(true);
  });

  it("cancelling Watch removes its listener", async () => {
    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    const first = watch(client, TOKEN_SERVICE);
    const second = watch(client, "");
    const firstMessages = first[Symbol.asyncIterator]();
    const secondMessages = second[Symbol.asyncIterator]();
    expect(await nextStatus(firstMessages)).toBe(ServingStatus.SERVING);
    expect(await nextStatus(secondMessages)).toBe(ServingStatus.SERVING);
    expect(status.listenerCount).toBe(2);

    first.cancel();

    await expect(withTimeout(firstMessages.next(), "the cancelled Watch")).rejects.toMatchObject({
      code: grpc.status.CANCELLED,
    });
    await vi.waitFor(() => expect(status.listenerCount).toBe(1), { timeout: WAIT_MS });

    second.cancel();
    await vi.waitFor(() => expect(status.listenerCount).toBe(0), { timeout: WAIT_MS });
  });

  it("serves many Watch streams without a listener warning", async () => {
    const warnings: Error[] = [];
    const collectWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", collectWarning);
    status.set(TOKEN_SERVICE, ServingStatus.SERVING);
    const calls = Array.from({ length: 12 }, () => watch(client, TOKEN_SERVICE));

    try {
      for (const call of calls) {
        expect(await nextStatus(call[Symbol.asyncIterator]())).toBe(ServingStatus.SERVING);
      }
      expect(status.listenerCount).toBe(calls.length);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((warning) => warning.name)).not.toContain("MaxListenersExceededWarning");
    } finally {
      process.off("warning", collectWarning);
      calls.forEach((call) => call.cancel());
    }
    await vi.waitFor(() => expect(status.listenerCount).toBe(0), { timeout: WAIT_MS });
  });

  it("Check works over the Connect protocol", async () => {
    const baseUrl = `http://${running.address}`;
    const sessionManager = new Http2SessionManager(baseUrl);
    const connectClient = createClient(
      Health,
      createConnectTransport({ baseUrl, httpVersion: "2", sessionManager }),
    );
    status.set(TOKEN_SERVICE, ServingStatus.NOT_SERVING);

    try {
      expect((await connectClient.check({ service: "" })).status).toBe(ServingStatus.SERVING);
      expect((await connectClient.check({ service: TOKEN_SERVICE })).status).toBe(ServingStatus.NOT_SERVING);

      const error = await connectClient.check({ service: "red5.unknown.v1.Nothing" }).then(
        () => undefined,
        (reason: unknown) => ConnectError.from(reason),
      );
      expect(error?.code).toBe(Code.NotFound);
      expect(error?.rawMessage).toBe(UNKNOWN_SERVICE_MESSAGE);
    } finally {
      sessionManager.abort();
    }
  });
});
