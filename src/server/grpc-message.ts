/**
 * Percent-encodes a gRPC status message as the gRPC specification requires: only bytes outside
 * printable ASCII, and "%" itself.
 *
 * connect-node 2.1 encodes it with encodeURIComponent, which also encodes ":", ",", "/" and the
 * like, and grpc-js 1.14 decodes it with decodeURI, which leaves those escaped. Minimal encoding
 * reads the same to every client.
 */
export function encodeGrpcMessage(message: string): string {
  let encoded = "";
  for (const byte of Buffer.from(message, "utf8")) {
    const printable = byte >= 0x20 && byte <= 0x7e && byte !== 0x25;
    encoded += printable ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return encoded;
}
