import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { ServiceMetrics } from "./metrics.js";

const ROLE_NAMES: Readonly<Record<number, string>> = { 1: "admin", 2: "publisher", 3: "subscriber" };

/**
 * Creates the outermost interceptor, which counts every call by procedure and code, times it,
 * tracks calls in flight, and counts the tokens issued. A streaming call (health Watch,
 * reflection) is counted when its response starts, not when the stream ends.
 */
export function createMetricsInterceptor(metrics: ServiceMetrics): Interceptor {
  return (next) => async (request) => {
    const procedure = `${request.service.typeName}/${request.method.name}`;
    const stopTimer = metrics.callSeconds.startTimer({ procedure });
    metrics.callsInFlight.inc({ procedure });
    let code = "OK";
    try {
      const response = await next(request);
      if (!request.stream && (request.method.name === "IssueConferenceToken" || request.method.name === "IssueChatToken")) {
        countToken(metrics, request.method.name, request.message as { role?: number });
      }
      return response;
    } catch (error) {
      code = Code[ConnectError.from(error).code];
      throw error;
    } finally {
      metrics.callsInFlight.dec({ procedure });
      metrics.calls.inc({ procedure, code });
      stopTimer();
    }
  };
}

function countToken(metrics: ServiceMetrics, method: string, message: { role?: number }): void {
  if (method === "IssueConferenceToken") {
    metrics.tokensIssued.inc({ kind: "conference", role: ROLE_NAMES[message.role ?? 0] ?? "" });
  } else {
    metrics.tokensIssued.inc({ kind: "chat", role: "" });
  }
}
