import type http from "node:http";
import type http2 from "node:http2";

type NodeHandler = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/**
 * Wraps a handler so that the grpc-message trailer is percent-encoded as the gRPC specification
 * requires: only bytes outside printable ASCII, and "%" itself.
 *
 * connect-node encodes it with encodeURIComponent, which also encodes ":", ",", "/" and the like,
 * and grpc-js decodes it with decodeURI, which leaves those escaped, so grpc-js callers would read
 * "invalid request%3A ..." (connect-node 2.3, grpc-js 1.14). Minimal encoding reads the same to
 * every client.
 */
export function withSpecGrpcMessage(handler: NodeHandler): NodeHandler {
  return (request, response) => {
    const addTrailers = response.addTrailers.bind(response) as (headers: http.OutgoingHttpHeaders) => void;
    response.addTrailers = (headers: http.OutgoingHttpHeaders) => {
      const message = headers["grpc-message"];
      if (typeof message === "string") {
        headers["grpc-message"] = encodeGrpcMessage(safeDecode(message));
      }
      addTrailers(headers);
    };
    handler(request, response);
  };
}

/** Percent-encodes a status message per the gRPC HTTP/2 protocol. */
export function encodeGrpcMessage(message: string): string {
  let encoded = "";
  for (const byte of Buffer.from(message, "utf8")) {
    encoded += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(byte);
  }
  return encoded;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
