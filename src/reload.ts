import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { FILE_SETTINGS, type Config } from "./config.js";
import { fileKey } from "./config-file.js";

/** Settings a reload applies; a change to any other setting waits for a restart. */
const RELOADED_FIELDS: ReadonlySet<keyof Config> = new Set<keyof Config>([
  "credentials",
  "callersFile",
  "allowUnauthenticatedCallers",
  "logLevel",
  "configWatchIntervalMs",
  "watchedFiles",
  "tls",
]);

/**
 * Names the settings that differ between two configurations and that only a restart applies. TLS
 * files may change their content on reload, but not whether TLS or mutual TLS is on.
 */
export function settingsNeedingRestart(current: Config, next: Config): string[] {
  const changed: string[] = [];
  for (const field of Object.keys(next) as (keyof Config)[]) {
    if (!RELOADED_FIELDS.has(field) && JSON.stringify(current[field]) !== JSON.stringify(next[field])) {
      changed.push(FILE_SETTINGS.find((setting) => fileKey(setting) === field) ?? settingOf(field));
    }
  }
  if ((current.tls === undefined) !== (next.tls === undefined) || (current.tls?.clientCaFile === undefined) !== (next.tls?.clientCaFile === undefined)) {
    changed.push("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE");
  }
  return changed;
}

function settingOf(field: keyof Config): string {
  return field === "configFile" ? "CONFIG_FILE" : field;
}

/**
 * Runs reloads one at a time. A request that arrives during a run starts one more run after it,
 * so the last change to the files is always applied. Further requests meanwhile merge into that run.
 */
export function createReloadQueue(run: (reason: string) => Promise<void>): (reason: string) => Promise<void> {
  let running: Promise<void> | undefined;
  let pending: string | undefined;

  const drain = async (reason: string): Promise<void> => {
    let next: string | undefined = reason;
    while (next !== undefined) {
      pending = undefined;
      await run(next);
      next = pending;
    }
    running = undefined;
  };
  return (reason) => {
    if (running !== undefined) {
      pending = reason;
      return running;
    }
    running = drain(reason);
    return running;
  };
}

/** A running file watcher. */
export interface FileWatcher {
  /** Restarts the wait with the current interval, after a reload changed it. */
  reschedule(): void;
  /** Stops watching; no change is reported after it returns. */
  stop(): void;
}

/** Inputs of the watcher, read again before every check so that a reload can change them. */
export interface WatchTarget {
  /** Files to compare. */
  readonly files: () => readonly string[];
  /** Time between checks in milliseconds; 0 stops checking until the next reschedule. */
  readonly intervalMs: () => number;
  /** Called when the content of any file differs from the previous check. */
  readonly onChange: () => void;
  /**
   * Fingerprint of the files as the configuration in force read them, from fingerprintFiles right
   * after loading it, so that a change made before the watcher starts is not missed.
   */
  readonly initial: string;
}

/**
 * Watches files by their content, the way Kubernetes updates mounted Secrets and ConfigMaps: it
 * replaces a symbolic link, so neither the path's modification time nor an inotify watch on it
 * is reliable. Reading a few small files every few seconds costs next to nothing.
 */
export function watchFiles(target: WatchTarget): FileWatcher {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let previous = target.initial;

  const check = async (): Promise<void> => {
    const current = await fingerprint(target.files());
    if (stopped) {
      return;
    }
    if (current !== previous) {
      previous = current;
      target.onChange();
    }
    schedule();
  };
  const schedule = () => {
    clearTimeout(timer);
    const interval = target.intervalMs();
    timer = interval > 0 ? setTimeout(() => void check(), interval) : undefined;
    timer?.unref();
  };

  schedule();
  return {
    reschedule: () => {
      if (!stopped) {
        schedule();
      }
    },
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** Computes one digest over every file's path and content; an unreadable file counts as its error code. */
export function fingerprintFiles(files: readonly string[]): string {
  return digest(files, files.map((file) => readOrError(() => readFileSync(file))));
}

async function fingerprint(files: readonly string[]): Promise<string> {
  const contents = await Promise.all(files.map((file) => readFile(file).catch((error: unknown) => errorCode(error))));
  return digest(files, contents);
}

function digest(files: readonly string[], contents: readonly (Buffer | string)[]): string {
  const hash = createHash("sha256");
  files.forEach((file, index) => {
    hash.update(file).update("\0").update(contents[index] ?? "").update("\0");
  });
  return hash.digest("hex");
}

function readOrError(read: () => Buffer): Buffer | string {
  try {
    return read();
  } catch (error) {
    return errorCode(error);
  }
}

function errorCode(error: unknown): string {
  return `unreadable:${(error as NodeJS.ErrnoException).code ?? "error"}`;
}
