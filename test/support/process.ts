import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import net from "node:net";

/** Repository root, where npm, tsx and buf run. */
export const REPO_ROOT = new URL("../..", import.meta.url).pathname;

/** Output and exit status of a finished command. */
export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion, killing it after timeoutMs. */
export async function run(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CommandResult> {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  const [code] = (await once(child, "close")) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A service process started for a test. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Base URL from the "server started" log record. */
  readonly url: string;
  /** Admin server's base URL from the "server started" log record. */
  readonly adminUrl: string;
  /**
   * Resolves with the exit code once the process has exited and its output has been read (null
   * when a signal ended it).
   */
  readonly exited: Promise<number | null>;
  stdout(): string;
  /** JSON records written to stdout so far, oldest first: the log and the audit log. */
  records(): Record<string, unknown>[];
  stderr(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts a command that runs the service and waits for its "server started" log record. */
export async function startService(command: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<ServiceProcess> {
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: false });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));

  // "close" rather than "exit": the last output may still be unread when "exit" fires.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code: number | null) => resolve(code)));
  const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "server started" record within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      // Only complete lines: the record may arrive in more than one chunk.
      const line = stdout.split("\n").slice(0, -1).find((candidate) => candidate.includes('"msg":"server started"'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as Record<string, unknown>);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`service exited with ${code} before starting; stderr: ${stderr}`));
    });
  });

  return {
    child,
    url: String(started.url),
    adminUrl: String(started.adminUrl),
    exited,
    stdout: () => stdout,
    records: () => parseRecords(stdout),
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null) {
        return child.exitCode;
      }
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** Parses the complete JSON lines of a process's output, skipping any other lines. */
function parseRecords(output: string): Record<string, unknown>[] {
  const lines = output.split("\n").slice(0, -1);
  return lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Reports whether a TCP connection to the port on 127.0.0.1 succeeds. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
