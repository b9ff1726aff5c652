import net from "node:net";

/** HTTP/2 frame types (RFC 9113, section 6). */
export const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;

const FLAG_ACK = 0x1;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;

/** The client connection preface followed by an empty SETTINGS frame. */
const PREFACE_AND_SETTINGS = Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0))]);

/** One frame as received. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/**
 * An HTTP/2 cleartext client that writes frames itself, so that a test can send a request after
 * the server's GOAWAY, as a client does whose request was on the wire when the GOAWAY left.
 * It acknowledges SETTINGS at once, but PINGs only when ackPings is called. It never sends
 * WINDOW_UPDATE, so each response must fit in the default 65535-byte window.
 */
export class RawHttp2Client {
  readonly frames: Frame[] = [];
  #received = Buffer.alloc(0);
  #pendingPings: Buffer[] = [];
  #closed = false;
  #waiters = new Set<() => void>();

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.#closed = true;
      this.#wake();
    });
  }

  /**
   * Connects to host:port and, unless sendPreface is false, sends the connection preface with
   * empty SETTINGS.
   */
  static async connect(port: number, host = "127.0.0.1", options: { sendPreface?: boolean } = {}): Promise<RawHttp2Client> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const client = new RawHttp2Client(socket);
    if (options.sendPreface !== false) {
      socket.write(PREFACE_AND_SETTINGS);
    }
    return client;
  }

  /** Whether the server has closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends a unary gRPC request on the stream: HEADERS with the path and extra headers, then one
   * DATA frame with the length-prefixed message, ending the stream unless endStream is false. With
   * withPreface, the connection preface and empty SETTINGS go first, in the same write, as nginx
   * sends them on a new upstream connection.
   */
  sendGrpcRequest(
    streamId: number,
    path: string,
    authority: string,
    message: Uint8Array,
    options: { withPreface?: boolean; headers?: Readonly<Record<string, string>>; endStream?: boolean } = {},
  ): void {
    const headers = Buffer.concat([
      literalHeader(":method", "POST"),
      literalHeader(":scheme", "http"),
      literalHeader(":path", path),
      literalHeader(":authority", authority),
      literalHeader("content-type", "application/grpc"),
      literalHeader("te", "trailers"),
      ...Object.entries(options.headers ?? {}).map(([name, value]) => literalHeader(name, value)),
    ]);
    const body = grpcEnvelope(message);
    const preface = options.withPreface === true ? PREFACE_AND_SETTINGS : Buffer.alloc(0);
    const dataFlags = options.endStream === false ? 0 : FLAG_END_STREAM;
    this.socket.write(Buffer.concat([preface, frame(FrameType.HEADERS, FLAG_END_HEADERS, streamId, headers), frame(FrameType.DATA, dataFlags, streamId, body)]));
  }

  /** Resets the stream with RST_STREAM and the given HTTP/2 error code. */
  resetStream(streamId: number, errorCode: number): void {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(errorCode);
    this.socket.write(frame(FrameType.RST_STREAM, 0, streamId, payload));
  }

  /** Acknowledges every PING received so far. */
  ackPings(): void {
    for (const payload of this.#pendingPings.splice(0)) {
      this.socket.write(frame(FrameType.PING, FLAG_ACK, 0, payload));
    }
  }

  /** Resolves once a frame matches, or with undefined once the connection has closed without one. */
  async waitFor(match: (frame: Frame) => boolean): Promise<Frame | undefined> {
    for (;;) {
      const found = this.frames.find(match);
      if (found !== undefined || this.#closed) {
        return found;
      }
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
  }

  /** Returns the DATA payloads the server sent on the stream, joined. */
  dataOf(streamId: number): Buffer {
    return Buffer.concat(this.frames.filter((received) => received.type === FrameType.DATA && received.streamId === streamId).map((received) => received.payload));
  }

  close(): void {
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#received = Buffer.concat([this.#received, chunk]);
    while (this.#received.length >= 9) {
      const length = this.#received.readUIntBE(0, 3);
      if (this.#received.length < 9 + length) {
        break;
      }
      const received: Frame = {
        type: this.#received[3] ?? 0,
        flags: this.#received[4] ?? 0,
        streamId: this.#received.readUInt32BE(5) & 0x7fffffff,
        payload: this.#received.subarray(9, 9 + length),
      };
      this.#received = this.#received.subarray(9 + length);
      this.#handle(received);
    }
    this.#wake();
  }

  #handle(received: Frame): void {
    this.frames.push(received);
    if (received.type === FrameType.SETTINGS && (received.flags & FLAG_ACK) === 0) {
      this.socket.write(frame(FrameType.SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
    }
    if (received.type === FrameType.PING && (received.flags & FLAG_ACK) === 0) {
      this.#pendingPings.push(received.payload);
    }
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) {
      this.#waiters.delete(wake);
      wake();
    }
  }
}

/** Returns the last stream id of a GOAWAY frame. */
export function goawayLastStreamId(goaway: Frame): number {
  return goaway.payload.readUInt32BE(0) & 0x7fffffff;
}

/**
 * Wraps a message in the gRPC envelope: a flags byte, a 32-bit length (declaredLength, which a
 * test may set to something else than the message's length), then the message.
 */
export function grpcEnvelope(message: Uint8Array, flags = 0, declaredLength = message.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flags;
  prefix.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([prefix, message]);
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** Encodes a header as an HPACK literal without indexing, with a new name and no Huffman coding. */
function literalHeader(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)]);
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, "latin1");
  if (bytes.length >= 127) {
    throw new RangeError(`header text of ${bytes.length} bytes; this encoder takes at most 126`);
  }
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}
