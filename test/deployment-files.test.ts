/**
 * Checks the Dockerfile, .dockerignore and deploy/kubernetes against the service they deploy.
 * Every setting they set must be one the service reads and accepts, and ports, probes and
 * selectors must match. The image's build steps, replayed on this machine, must produce a service
 * that starts and serves.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { jwtVerify } from "jose";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus, Health } from "../gen/ts/grpc/health/v1/health_pb.js";
import { Role, TokenService } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { generateApiKey } from "../src/auth/api-keys.js";
import { parseCallers } from "../src/auth/callers.js";
import { fileKey } from "../src/config-file.js";
import { FILE_SETTINGS, loadConfig, type Config } from "../src/config.js";
import {
  decodeMasterCredentials,
  encodeMasterCredentials,
  MASTER_KEY_VARIABLE,
  MASTER_SECRET_VARIABLE,
} from "../src/credentials/master-credentials.js";
import { startPubNubEmulator, type PubNubEmulator } from "../src/emulator/pubnub-emulator.js";
import { TEST_CREDENTIALS, TEST_MASTER_KEY, TEST_MASTER_SECRET } from "./support/harness.js";
import { parseWithSdk } from "./support/pubnub-sdk.js";
import { REPO_ROOT } from "./support/process.js";

const MANIFEST_DIR = join(REPO_ROOT, "deploy/kubernetes");

/** Every environment variable the service reads. */
const KNOWN_SETTINGS = new Set([...FILE_SETTINGS, "CONFIG_FILE", MASTER_KEY_VARIABLE, MASTER_SECRET_VARIABLE]);

/** Variables that Node.js itself reads, which the manifests may set too. */
const NODE_VARIABLES = new Set(["NODE_OPTIONS"]);

/** Test values for the files that hold the master credentials, by the setting that names the file. */
const TEST_SECRET_FILES: Readonly<Record<string, string>> = {
  [`${MASTER_KEY_VARIABLE}_FILE`]: TEST_MASTER_KEY,
  [`${MASTER_SECRET_VARIABLE}_FILE`]: TEST_MASTER_SECRET,
};

// ---------------------------------------------------------------------------------------------
// Kubernetes manifests: the fields these checks read.

interface Metadata {
  readonly name: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: Metadata;
  /** File the manifest came from, relative to deploy/kubernetes. */
  readonly file: string;
}

interface Probe {
  readonly grpc?: { readonly port: number; readonly service?: string };
  readonly httpGet?: { readonly path: string; readonly port: number | string };
  readonly periodSeconds?: number;
  readonly failureThreshold?: number;
}

interface Container {
  readonly name: string;
  readonly image: string;
  readonly env?: readonly { readonly name: string; readonly value?: string; readonly valueFrom?: unknown }[];
  readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[];
  readonly startupProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly resources?: { readonly requests?: Record<string, string>; readonly limits?: Record<string, string> };
  readonly securityContext?: {
    readonly allowPrivilegeEscalation?: boolean;
    readonly readOnlyRootFilesystem?: boolean;
    readonly runAsNonRoot?: boolean;
    readonly capabilities?: { readonly drop?: readonly string[] };
  };
  readonly volumeMounts?: readonly { readonly name: string; readonly mountPath: string; readonly subPath?: string }[];
}

interface Volume {
  readonly name: string;
  readonly configMap?: { readonly name: string; readonly defaultMode?: number };
  readonly secret?: { readonly secretName: string; readonly defaultMode?: number };
}

interface PodSpec {
  readonly terminationGracePeriodSeconds?: number;
  readonly securityContext?: { readonly runAsNonRoot?: boolean; readonly runAsUser?: number; readonly runAsGroup?: number; readonly fsGroup?: number };
  readonly topologySpreadConstraints?: readonly { readonly topologyKey: string; readonly labelSelector?: { readonly matchLabels?: Record<string, string> } }[];
  readonly containers: readonly Container[];
  readonly volumes?: readonly Volume[];
}

interface Deployment extends Manifest {
  readonly spec: {
    readonly replicas?: number;
    readonly selector: { readonly matchLabels: Record<string, string> };
    readonly template: { readonly metadata: Metadata; readonly spec: PodSpec };
  };
}

interface Service extends Manifest {
  readonly spec: {
    readonly type?: string;
    readonly clusterIP?: string;
    readonly selector: Record<string, string>;
    readonly ports: readonly { readonly name?: string; readonly port: number; readonly targetPort: number | string; readonly appProtocol?: string }[];
  };
}

interface PodDisruptionBudget extends Manifest {
  readonly spec: { readonly selector: { readonly matchLabels: Record<string, string> }; readonly minAvailable?: number | string; readonly maxUnavailable?: number | string };
}

interface HorizontalPodAutoscaler extends Manifest {
  readonly spec: {
    readonly scaleTargetRef: { readonly apiVersion: string; readonly kind: string; readonly name: string };
    readonly minReplicas?: number;
    readonly maxReplicas: number;
    readonly metrics?: readonly { readonly type: string; readonly resource?: { readonly name: string } }[];
  };
}

interface ConfigMap extends Manifest {
  readonly data: Record<string, string>;
}

interface Secret extends Manifest {
  readonly stringData?: Record<string, string>;
  readonly data?: Record<string, string>;
}

/** Parses every YAML document of every file in deploy/kubernetes but the kustomization. */
function readManifests(): Manifest[] {
  const manifests: Manifest[] = [];
  for (const file of readdirSync(MANIFEST_DIR).filter((name) => name.endsWith(".yaml")).sort()) {
    if (file === "kustomization.yaml") {
      continue;
    }
    for (const document of parseAllDocuments(readFileSync(join(MANIFEST_DIR, file), "utf8"))) {
      if (document.errors.length > 0) {
        throw new Error(`${file} is not valid YAML: ${document.errors[0]?.message}`);
      }
      manifests.push({ ...(document.toJS() as Omit<Manifest, "file">), file });
    }
  }
  return manifests;
}

/** Finds the one manifest of the kind (and name, when given); throws unless there is exactly one. */
function findManifest<T extends Manifest>(manifests: readonly Manifest[], kind: string, name?: string): T {
  const found = manifests.filter((manifest) => manifest.kind === kind && (name === undefined || manifest.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name === undefined ? "" : ` named ${name}`} in deploy/kubernetes, found ${found.length}`);
  }
  return found[0] as T;
}

/** Checks that the selector is not empty and that the pod has every label it selects. */
function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([key, value]) => labels?.[key] === value);
}

function containerPort(container: Container, port: number | string): number | undefined {
  if (typeof port === "number") {
    return container.ports?.some((entry) => entry.containerPort === port) ? port : undefined;
  }
  return container.ports?.find((entry) => entry.name === port)?.containerPort;
}

// ---------------------------------------------------------------------------------------------
// Dockerfile: a parser for the instructions it uses, and a replay of its build on this machine.

interface Instruction {
  readonly keyword: string;
  /** Leading --name=value options, such as COPY --from=build. */
  readonly flags: Readonly<Record<string, string>>;
  readonly args: string;
}

interface Stage {
  readonly name: string | undefined;
  readonly image: string;
  readonly instructions: readonly Instruction[];
}

/** Splits a Dockerfile into stages, substituting the ARG defaults declared before the first FROM. */
function parseDockerfile(text: string): Stage[] {
  const globalArgs = new Map<string, string>();
  const stages: { name: string | undefined; image: string; instructions: Instruction[] }[] = [];
  for (const line of logicalLines(text)) {
    const instruction = parseInstruction(line);
    if (instruction.keyword === "ARG" && stages.length === 0) {
      const [name, value] = splitPair(instruction.args);
      globalArgs.set(name, value);
    } else if (instruction.keyword === "FROM") {
      const expanded = instruction.args.replace(/\$\{?(\w+)\}?/g, (_match, arg: string) => globalArgs.get(arg) ?? "");
      const [image = "", as, name] = expanded.split(/\s+/);
      stages.push({ name: as?.toUpperCase() === "AS" ? name : undefined, image, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** Joins lines continued with a backslash and drops comments and blank lines. */
function logicalLines(text: string): string[] {
  const lines: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") || line === "") {
      continue;
    }
    if (line.endsWith("\\")) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    lines.push(`${current}${line}`.trim());
    current = "";
  }
  return lines;
}

function parseInstruction(line: string): Instruction {
  const [keyword = "", ...words] = line.split(/\s+/);
  const flags: Record<string, string> = {};
  while (words[0]?.startsWith("--")) {
    const [flag, value] = splitPair((words.shift() ?? "").slice(2));
    flags[flag] = value;
  }
  return { keyword: keyword.toUpperCase(), flags, args: words.join(" ") };
}

/** Splits NAME=value at the first "=". */
function splitPair(text: string): [string, string] {
  const index = text.indexOf("=");
  return index < 0 ? [text, ""] : [text.slice(0, index), text.slice(index + 1)];
}

function instructions(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword);
}

/** Collects the variables that ENV instructions set, in the KEY=value form. */
function imageEnvironment(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instruction of instructions(stage, "ENV")) {
    for (const pair of instruction.args.split(/\s+/)) {
      const [name, value] = splitPair(pair);
      env[name] = value.replace(/^"(.*)"$/, "$1");
    }
  }
  return env;
}

/** A .dockerignore pattern: a path glob, or with "!" an exception that puts paths back. */
interface IgnorePattern {
  readonly text: string;
  readonly exception: boolean;
  readonly regex: RegExp;
}

function parseDockerignore(text: string): IgnorePattern[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const exception = line.startsWith("!");
      const pattern = posix.normalize(line.slice(exception ? 1 : 0).replace(/^\/+/, "")).replace(/\/$/, "");
      const source = pattern.replace(/[.+^${}()|[\]\\]|\*\*|\*|\?/g, globToken);
      return { text: pattern, exception, regex: new RegExp(`^${source}$`) };
    });
}

/** Translates one wildcard or special character of a .dockerignore pattern to a regular expression. */
function globToken(token: string): string {
  switch (token) {
    case "**":
      return ".*";
    case "*":
      return "[^/]*";
    case "?":
      return "[^/]";
    default:
      return `\\${token}`;
  }
}

/** Docker's rule: the last pattern that matches the path or one of its parent folders decides. */
function isIgnored(patterns: readonly IgnorePattern[], path: string): boolean {
  const prefixes = path.split("/").map((_part, index, parts) => parts.slice(0, index + 1).join("/"));
  let ignored = false;
  for (const pattern of patterns) {
    if (prefixes.some((prefix) => pattern.regex.test(prefix))) {
      ignored = !pattern.exception;
    }
  }
  return ignored;
}

/** Copies the repository as `docker build .` sends it to the builder, and lists the files sent. */
function copyBuildContext(patterns: readonly IgnorePattern[], target: string): string[] {
  const sent: string[] = [];
  const visit = (relative: string) => {
    for (const entry of readdirSync(join(REPO_ROOT, relative), { withFileTypes: true })) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      const ignored = isIgnored(patterns, path);
      if (entry.isDirectory()) {
        // An ignored folder is entered only when an exception could put a path inside it back.
        const reopened = patterns.some((pattern) => pattern.exception && (pattern.text.startsWith(`${path}/`) || /^[*?]/.test(pattern.text)));
        if (!ignored || reopened) {
          visit(path);
        }
      } else if (!ignored) {
        mkdirSync(join(target, relative), { recursive: true });
        cpSync(join(REPO_ROOT, path), join(target, path));
        sent.push(path);
      }
    }
  };
  visit("");
  return sent;
}

/** A stage after its instructions ran: its filesystem under root, and what it declares. */
interface BuiltStage {
  readonly root: string;
  readonly workdir: string;
  readonly env: Record<string, string>;
}

/**
 * Runs the Dockerfile's instructions on this machine: each stage gets a folder for its root
 * filesystem, COPY copies from the build context or an earlier stage, and RUN runs the npm steps
 * in the stage's WORKDIR. The full `npm ci` of the build stage links the repository's node_modules
 * instead: it installs the same package-lock.json that `npm ci` installed for this test run, and
 * skipping it saves about 35 s and 430 MB. Any other RUN command fails the build, so that no
 * unknown command runs on the test machine.
 */
async function replayDockerBuild(stages: readonly Stage[], context: string, buildRoot: string): Promise<BuiltStage> {
  const built = new Map<string, BuiltStage>();
  let last: BuiltStage | undefined;
  for (const [index, stage] of stages.entries()) {
    const root = join(buildRoot, stage.name ?? `stage-${index}`);
    let workdir = "/";
    for (const instruction of stage.instructions) {
      if (instruction.keyword === "WORKDIR") {
        workdir = posix.resolve(workdir, instruction.args);
        mkdirSync(join(root, workdir), { recursive: true });
      } else if (instruction.keyword === "COPY") {
        const from = instruction.flags.from;
        const sourceRoot = from === undefined ? context : built.get(from)?.root;
        if (sourceRoot === undefined) {
          throw new Error(`COPY --from=${from} names no earlier stage`);
        }
        copyStep(instruction.args.split(/\s+/), sourceRoot, root, workdir);
      } else if (instruction.keyword === "RUN") {
        await runStep(instruction.args, join(root, workdir));
      }
    }
    last = { root, workdir, env: imageEnvironment(stage) };
    built.set(stage.name ?? String(index), last);
  }
  if (last === undefined) {
    throw new Error("the Dockerfile has no FROM");
  }
  return last;
}

/**
 * COPY: a folder's contents, or files, into the destination, which is relative to WORKDIR. Sources
 * are relative to the build context, or with --from to the root of the earlier stage.
 */
function copyStep(words: readonly string[], sourceRoot: string, stageRoot: string, workdir: string): void {
  const sources = words.slice(0, -1);
  const destination = words.at(-1) ?? "";
  const target = join(stageRoot, posix.resolve(workdir, destination));
  for (const source of sources) {
    const from = join(sourceRoot, posix.resolve("/", source));
    if (!existsSync(from)) {
      throw new Error(`COPY ${source}: not found (left out of the build context by .dockerignore?)`);
    }
    const into = destination.endsWith("/") ? join(target, posix.basename(source)) : target;
    mkdirSync(dirname(into), { recursive: true });
    cpSync(from, into, { recursive: true, verbatimSymlinks: true });
  }
}

/** Runs one RUN command of the Dockerfile, if it is one of the npm steps this replay supports. */
async function runStep(command: string, cwd: string): Promise<void> {
  if (!/^npm (ci|run build)( --[a-z-]+(=[a-z]+)?)*$/.test(command)) {
    throw new Error(`RUN ${command}: not a step this test can replay; extend runStep or keep it out of the Dockerfile`);
  }
  if (command.startsWith("npm ci") && !command.includes("--omit=dev")) {
    symlinkSync(join(REPO_ROOT, "node_modules"), join(cwd, "node_modules"));
    return;
  }
  // Only PATH and HOME (for npm's cache): npm_config_* variables of an outer npm run must not
  // change what this install does.
  const child = spawn("sh", ["-c", command], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const [code] = (await once(child, "close")) as [number | null];
  if (code !== 0) {
    throw new Error(`RUN ${command} exited with ${code}:\n${output}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The pod: the Deployment's environment and mounted files, laid out under a temporary root.

interface PodLayout {
  /** Image ENV plus the container's env, with mounted paths moved under the temporary root. */
  readonly env: Record<string, string>;
  /** Secret keys that no setting names. */
  readonly unusedSecretKeys: readonly string[];
  /** Replaces the Secret volume's files, as the kubelet does when the Secret changes. */
  updateSecret(valuesBySetting: Readonly<Record<string, string>>): void;
}

/**
 * Writes the volumes the Deployment mounts under root: the ConfigMap's data, and for the Secret
 * the tests' master key and secret in place of the example's placeholders. Paths in the
 * environment and in the mounted files are moved under root as well.
 */
function layOutPod(root: string, deployment: Deployment, configMap: ConfigMap, secret: Secret, imageEnv: Record<string, string>): PodLayout {
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0] as Container;
  const mounts = container.volumeMounts ?? [];
  const fsGroup = pod.securityContext?.fsGroup;
  const relocate = (text: string) => mounts.reduce((result, mount) => result.split(mount.mountPath).join(join(root, mount.mountPath)), text);

  const containerEnv = Object.fromEntries((container.env ?? []).map((variable) => [variable.name, variable.value ?? ""]));
  const configText = configMap.data[posix.basename(containerEnv.CONFIG_FILE ?? "")] ?? "";
  const fileSettings = (parseYaml(configText) ?? {}) as Record<string, unknown>;
  const settingValue = (setting: string) => containerEnv[setting] ?? imageEnv[setting] ?? String(fileSettings[fileKey(setting)] ?? "");

  let writeSecret = (_values: Readonly<Record<string, string>>) => {};
  const unusedSecretKeys: string[] = [];
  for (const mount of mounts) {
    const volume = pod.volumes?.find((entry) => entry.name === mount.name);
    const directory = join(root, mount.mountPath);
    mkdirSync(directory, { recursive: true, mode: 0o755 });
    if (volume?.configMap?.name === configMap.metadata.name) {
      const files = Object.fromEntries(Object.entries(configMap.data).map(([key, content]) => [key, relocate(content)]));
      writeVolume(directory, files, volume.configMap.defaultMode ?? 0o644, fsGroup);
    }
    if (volume?.secret?.secretName === secret.metadata.name) {
      const keys = Object.keys({ ...secret.stringData, ...secret.data });
      const settingOf = (key: string) => Object.keys(TEST_SECRET_FILES).find((name) => settingValue(name) === posix.join(mount.mountPath, key));
      unusedSecretKeys.push(...keys.filter((key) => settingOf(key) === undefined));
      const mode = volume.secret.defaultMode ?? 0o644;
      writeSecret = (values) => {
        const files = Object.fromEntries(keys.map((key) => [key, values[settingOf(key) ?? ""] ?? "unused"]));
        writeVolume(directory, files, mode, fsGroup);
      };
      writeSecret(TEST_SECRET_FILES);
    }
  }

  const env = { ...imageEnv, ...Object.fromEntries(Object.entries(containerEnv).map(([name, value]) => [name, relocate(value)])) };
  return { env, unusedSecretKeys, updateSecret: (values) => writeSecret(values) };
}

/**
 * Writes a ConfigMap or Secret volume the way the kubelet does: the files go to a new hidden
 * folder, the symbolic link ..data is swapped to it in one rename, and each key is a link through
 * ..data. The files are owned by root, of group fsGroup when set, with the volume's mode.
 */
function writeVolume(directory: string, files: Readonly<Record<string, string>>, mode: number, fsGroup: number | undefined): void {
  const previous = existsSync(join(directory, "..data")) ? readlinkSync(join(directory, "..data")) : undefined;
  const version = `..${Date.now()}_${Math.random().toString(16).slice(2)}`;
  mkdirSync(join(directory, version), { mode: 0o755 });
  for (const [key, content] of Object.entries(files)) {
    const path = join(directory, version, key);
    writeFileSync(path, content);
    chmodSync(path, mode);
    if (isRoot() && fsGroup !== undefined) {
      chownSync(path, 0, fsGroup);
    }
  }

  symlinkSync(version, join(directory, "..data_tmp"));
  renameSync(join(directory, "..data_tmp"), join(directory, "..data"));
  for (const key of Object.keys(files)) {
    if (!existsSync(join(directory, key))) {
      symlinkSync(posix.join("..data", key), join(directory, key));
    }
  }
  if (previous !== undefined) {
    rmSync(join(directory, previous), { recursive: true, force: true });
  }
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Parses the numbers of a USER uid:gid instruction; undefined for a user name. */
function parseNumericUser(user: string | undefined): { uid: number; gid: number | undefined } | undefined {
  const match = /^(\d+)(?::(\d+))?$/.exec(user ?? "");
  return match ? { uid: Number(match[1]), gid: match[2] === undefined ? undefined : Number(match[2]) } : undefined;
}

// ---------------------------------------------------------------------------------------------

const manifests = readManifests();
const deployment = findManifest<Deployment>(manifests, "Deployment");
const pod = deployment.spec.template.spec;
const container = pod.containers[0] as Container;
const configMap = findManifest<ConfigMap>(manifests, "ConfigMap");
const secret = findManifest<Secret>(manifests, "Secret");
const stages = parseDockerfile(readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8"));
const finalStage = stages.at(-1) as Stage;
const imageEnv = imageEnvironment(finalStage);
const imageUser = instructions(finalStage, "USER").at(-1)?.args;

let podRoot: string;
let layout: PodLayout;
let loaded: Config | undefined;

/** Loads the pod's settings once, as the service does. A ConfigError fails each test that needs them. */
function podConfig(): Config {
  loaded ??= loadConfig(layout.env);
  return loaded;
}

beforeAll(() => {
  podRoot = mkdtempSync(join(tmpdir(), "red5-pod-"));
  chmodSync(podRoot, 0o755);
  layout = layOutPod(podRoot, deployment, configMap, secret, imageEnv);
});

afterAll(() => {
  rmSync(podRoot, { recursive: true, force: true });
});

describe("Dockerfile", () => {
  it("builds every stage on one pinned Node 20 bookworm-slim image", () => {
    const images = new Set(stages.map((stage) => stage.image));
    expect(images.size).toBe(1);
    const image = [...images][0] ?? "";
    expect(image).toMatch(/^node:20\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);

    const [major, minor, patch] = (/^node:(\d+)\.(\d+)\.(\d+)/.exec(image) ?? []).slice(1).map(Number);
    const engines = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).engines.node as string;
    const [, minMajor, minMinor, minPatch] = (/^>=(\d+)\.(\d+)\.(\d+)$/.exec(engines) ?? []).map(Number);
    expect(major).toBe(minMajor);
    expect((minor ?? 0) * 1000 + (patch ?? 0)).toBeGreaterThanOrEqual((minMinor ?? 0) * 1000 + (minPatch ?? 0));
  });

  it("runs as a numeric non-root user", () => {
    const user = parseNumericUser(imageUser);
    expect(user, `USER ${imageUser} must be uid:gid in numbers, so that runAsNonRoot can verify it`).toBeDefined();
    expect(user?.uid).toBeGreaterThan(0);
    expect(user?.gid).toBeGreaterThan(0);
  });

  it("starts node on the built entry point in exec form", () => {
    const entrypoint = instructions(finalStage, "ENTRYPOINT").at(-1)?.args ?? "";
    const startScript = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).scripts.start as string;

    // npm start execs node through a shell, so that npm's SIGTERM reaches it; the image runs node directly.
    expect(JSON.parse(entrypoint)).toEqual(startScript.replace(/^exec /, "").split(" "));
    expect(instructions(finalStage, "CMD")).toEqual([]);
  });

  it("sets only known settings and listens on every interface", () => {
    for (const name of Object.keys(imageEnv)) {
      expect(KNOWN_SETTINGS.has(name), `ENV ${name} is not a setting of the service`).toBe(true);
    }
    expect(imageEnv.HOST).toBe("0.0.0.0");
    expect(imageEnv.ADMIN_HOST).toBe("0.0.0.0");
  });

  it("bakes in no secret", () => {
    for (const stage of stages) {
      for (const instruction of stage.instructions.filter((entry) => entry.keyword === "ENV" || entry.keyword === "ARG")) {
        expect(instruction.args).not.toMatch(/RED5_MASTER|SECRET|PASSWORD|TOKEN/i);
      }
    }
  });

  it("exposes the service and admin ports", () => {
    const exposed = instructions(finalStage, "EXPOSE").flatMap((instruction) => instruction.args.split(/\s+/).map(Number));
    expect(exposed).toContain(podConfig().port);
    expect(exposed).toContain(podConfig().adminPort);
  });

  it("has a build context of sources and lockfile only", () => {
    const context = mkdtempSync(join(tmpdir(), "red5-context-"));
    try {
      const sent = copyBuildContext(parseDockerignore(readFileSync(join(REPO_ROOT, ".dockerignore"), "utf8")), context);

      for (const path of ["package.json", "package-lock.json", "tsconfig.build.json", "src/main.ts", "gen/ts/red5/token/v1/token_service_pb.ts"]) {
        expect(sent).toContain(path);
      }
      for (const prefix of [".git/", "node_modules/", "dist/", ".tools/", "test/", "deploy/", "gen/go/", "gen/java/"]) {
        expect(sent.filter((path) => path.startsWith(prefix))).toEqual([]);
      }
      expect(sent.filter((path) => /\.(pem|key|env)$/.test(path))).toEqual([]);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
  });
});

describe("Kubernetes manifests", () => {
  it("set only known settings", () => {
    for (const variable of container.env ?? []) {
      expect(KNOWN_SETTINGS.has(variable.name) || NODE_VARIABLES.has(variable.name), `env ${variable.name} is not a setting of the service`).toBe(true);
      expect(variable.value, `env ${variable.name} must be a literal value`).toBeTypeOf("string");
    }
    const fileKeys = new Set(FILE_SETTINGS.map(fileKey));
    const document = parseYaml(configMap.data["config.yaml"] ?? "") as Record<string, unknown>;
    for (const key of Object.keys(document)) {
      expect(fileKeys.has(key), `config.yaml key ${key} is not a setting of the service`).toBe(true);
    }
  });

  it("pass master credentials as files, never as values", () => {
    const names = (container.env ?? []).map((variable) => variable.name);

    expect(names).not.toContain(MASTER_KEY_VARIABLE);
    expect(names).not.toContain(MASTER_SECRET_VARIABLE);
    expect(layout.unusedSecretKeys).toEqual([]);
  });

  it("load through the service's own configuration reader", () => {
    expect(podConfig().configFile).toBe(layout.env.CONFIG_FILE);
    expect(podConfig().credentials).toMatchObject({ kind: "configured", masterKey: TEST_MASTER_KEY, masterSecret: TEST_MASTER_SECRET });
    expect(decodeMasterCredentials(TEST_MASTER_KEY, TEST_MASTER_SECRET)).toEqual(TEST_CREDENTIALS);
    expect(podConfig().host).toBe("0.0.0.0");
    expect(podConfig().adminHost).not.toMatch(/^(127\.|::1$|localhost$)/);
  });

  it("mount a callers file the service accepts", () => {
    expect(podConfig().callersFile).toBeDefined();
    const callers = JSON.parse(readFileSync(podConfig().callersFile ?? "", "utf8"));

    expect(() => parseCallers(callers)).not.toThrow();
  });

  it("mount every file the configuration names, without subPath", () => {
    const mounts = container.volumeMounts ?? [];
    for (const mount of mounts) {
      expect(mount.subPath, `volume ${mount.name} uses subPath, which the kubelet never updates`).toBeUndefined();
    }
    for (const file of podConfig().watchedFiles) {
      const mounted = mounts.some((mount) => file.startsWith(`${join(podRoot, mount.mountPath)}/`));
      expect(mounted, `${file} is on no mounted volume`).toBe(true);
      expect(existsSync(file), `${file} is not a key of its volume`).toBe(true);
    }
  });

  it("declare the ports the service listens on", () => {
    expect(containerPort(container, "grpc")).toBe(podConfig().port);
    expect(containerPort(container, "admin")).toBe(podConfig().adminPort);
  });

  it("probe gRPC health on the service port", () => {
    for (const probe of [container.startupProbe, container.readinessProbe]) {
      expect(probe?.grpc?.port).toBe(podConfig().port);
      expect(probe?.grpc?.service).toBe("");
    }
  });

  it("probe liveness on the admin port", () => {
    const probe = container.livenessProbe?.httpGet;

    expect(probe?.path).toBe("/livez");
    expect(containerPort(container, probe?.port ?? "")).toBe(podConfig().adminPort);
  });

  it("outlast shutdown delay and drain", () => {
    const graceMs = (pod.terminationGracePeriodSeconds ?? 30) * 1000;

    expect(podConfig().shutdownDelayMs).toBeGreaterThan(0);
    expect(graceMs).toBeGreaterThan(podConfig().shutdownDelayMs + podConfig().shutdownDrainMs);
  });

  it("run the image's user without privileges", () => {
    const user = parseNumericUser(imageUser);
    const context = container.securityContext;

    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.runAsUser).toBe(user?.uid);
    expect(pod.securityContext?.runAsGroup).toBe(user?.gid);
    expect(context?.readOnlyRootFilesystem).toBe(true);
    expect(context?.allowPrivilegeEscalation).toBe(false);
    expect(context?.capabilities?.drop).toContain("ALL");
  });

  it("select the Deployment's pods everywhere", () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(selects(deployment.spec.selector.matchLabels, labels)).toBe(true);

    for (const service of manifests.filter((manifest): manifest is Service => manifest.kind === "Service")) {
      expect(selects(service.spec.selector, labels), `Service ${service.metadata.name} selects no pod`).toBe(true);
    }
    const budget = findManifest<PodDisruptionBudget>(manifests, "PodDisruptionBudget");
    expect(selects(budget.spec.selector.matchLabels, labels)).toBe(true);
    for (const constraint of pod.topologySpreadConstraints ?? []) {
      expect(selects(constraint.labelSelector?.matchLabels, labels), `spread over ${constraint.topologyKey} counts no pod`).toBe(true);
    }
    expect(pod.topologySpreadConstraints?.length).toBeGreaterThan(0);
  });

  it("route Services to the gRPC port over HTTP/2", () => {
    const services = manifests.filter((manifest): manifest is Service => manifest.kind === "Service");
    expect(services.map((service) => service.spec.clusterIP === "None")).toEqual([false, true]);

    for (const service of services) {
      const [port] = service.spec.ports;
      expect(service.spec.ports).toHaveLength(1);
      expect(containerPort(container, port?.targetPort ?? "")).toBe(podConfig().port);
      expect(["kubernetes.io/h2c", "grpc"]).toContain(port?.appProtocol);
    }
  });

  it("autoscale the Deployment on CPU from two replicas", () => {
    const autoscaler = findManifest<HorizontalPodAutoscaler>(manifests, "HorizontalPodAutoscaler");

    expect(autoscaler.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name });
    expect(autoscaler.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(autoscaler.spec.maxReplicas).toBeGreaterThan(autoscaler.spec.minReplicas ?? 1);
    expect(autoscaler.spec.metrics?.map((metric) => metric.resource?.name)).toEqual(["cpu"]);
    expect(container.resources?.requests?.cpu, "CPU utilization needs a CPU request").toBeDefined();
    // A fixed count would reset the autoscaler's count on every kubectl apply.
    expect(deployment.spec.replicas).toBeUndefined();
  });

  it("cap the heap at half the memory limit", () => {
    const options = container.env?.find((variable) => variable.name === "NODE_OPTIONS")?.value ?? "";
    const heapMiB = Number(/--max-old-space-size=(\d+)/.exec(options)?.[1]);
    const limitMiB = Number(/^(\d+)Mi$/.exec(container.resources?.limits?.memory ?? "")?.[1]);

    expect(heapMiB).toBeGreaterThan(0);
    expect(limitMiB).toBeGreaterThan(0);
    expect(heapMiB * 2).toBeLessThanOrEqual(limitMiB);
  });

  it("keep one replica through voluntary disruptions", () => {
    const budget = findManifest<PodDisruptionBudget>(manifests, "PodDisruptionBudget");

    expect(budget.spec.maxUnavailable).toBe(1);
    expect(budget.spec.minAvailable).toBeUndefined();
  });

  it("point Prometheus at the admin port", () => {
    const annotations = deployment.spec.template.metadata.annotations ?? {};

    expect(annotations["prometheus.io/scrape"]).toBe("true");
    expect(Number(annotations["prometheus.io/port"])).toBe(podConfig().adminPort);
    expect(annotations["prometheus.io/path"]).toBe("/metrics");
  });

  it("ship only placeholders in the example Secret", () => {
    const values = Object.values(secret.stringData ?? {});

    expect(secret.data).toBeUndefined();
    expect(values).toHaveLength(2);
    for (const value of values) {
      expect(value).toMatch(/^<.+>$/);
    }
    expect(() => decodeMasterCredentials(values[0] ?? "", values[1] ?? "")).toThrow();
  });

  it.skipIf(!commandExists("kubectl"))("render with kustomize, without the Secret", async () => {
    const output = await capture("kubectl", ["kustomize", MANIFEST_DIR]);
    const rendered = parseAllDocuments(output).map((document) => document.toJS() as Manifest);
    const name = (manifest: Manifest) => `${manifest.kind}/${manifest.metadata.name}`;

    expect(rendered.map(name).sort()).toEqual(manifests.filter((manifest) => manifest.kind !== "Secret").map(name).sort());
  });
});

describe("image built by the Dockerfile's steps", () => {
  let buildRoot: string;
  let image: BuiltStage;
  let emulator: PubNubEmulator;
  let service: StartedImage;
  let imagePod: PodLayout;
  const apiKey = generateApiKey();
  const sessions: Http2SessionManager[] = [];

  beforeAll(async () => {
    buildRoot = mkdtempSync(join(tmpdir(), "red5-image-"));
    chmodSync(buildRoot, 0o755);
    const context = join(buildRoot, "context");
    copyBuildContext(parseDockerignore(readFileSync(join(REPO_ROOT, ".dockerignore"), "utf8")), context);
    image = await replayDockerBuild(stages, context, join(buildRoot, "stages"));

    emulator = await startPubNubEmulator({
      subscribeKey: TEST_CREDENTIALS.pubnubSubscribeKey,
      publishKey: TEST_CREDENTIALS.pubnubPublishKey,
      secretKey: TEST_CREDENTIALS.pubnubSecretKey,
    });
    const podDirectory = join(buildRoot, "pod");
    mkdirSync(podDirectory, { mode: 0o755 });
    imagePod = layOutPod(podDirectory, deployment, configMap, secret, imageEnv);
    const callersFile = join(buildRoot, "test-callers.json");
    writeFileSync(callersFile, JSON.stringify(buildTestCallers(apiKey.keyId, apiKey.hash)));
    // The test listens on loopback and free ports instead of 0.0.0.0:8080 and 9090, calls the
    // emulator instead of PubNub, and uses a callers file with a key it holds. Every other setting
    // is the pod's.
    const env = { ...imagePod.env, HOST: "127.0.0.1", ADMIN_HOST: "127.0.0.1", PORT: "0", ADMIN_PORT: "0", PUBNUB_ORIGIN: emulator.origin, CALLERS_FILE: callersFile };
    service = await startImage(image, env, pod);
  }, 240_000);

  afterAll(async () => {
    for (const session of sessions) {
      session.abort();
    }
    if (service?.child.exitCode === null) {
      service.child.kill("SIGKILL");
    }
    await emulator?.close();
    rmSync(buildRoot, { recursive: true, force: true });
  });

  function grpcTransport() {
    const sessionManager = new Http2SessionManager(service.url);
    sessions.push(sessionManager);
    return createGrpcTransport({ baseUrl: service.url, sessionManager });
  }

  it("installs no devDependencies", () => {
    const packageJson = JSON.parse(readFileSync(join(image.root, image.workdir, "package.json"), "utf8"));
    const installed = readdirSync(join(image.root, image.workdir, "node_modules"));

    expect(installed).toContain("@connectrpc");
    for (const name of Object.keys(packageJson.devDependencies as Record<string, string>)) {
      expect(existsSync(join(image.root, image.workdir, "node_modules", name)), `${name} is a devDependency`).toBe(false);
    }
  });

  it("answers the startup and readiness probes with SERVING", async () => {
    const health = createClient(Health, grpcTransport());
    for (const probe of [container.startupProbe, container.readinessProbe]) {
      const response = await health.check({ service: probe?.grpc?.service ?? "" });
      expect(response.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    }
  });

  it("answers the liveness probe and the Prometheus scrape", async () => {
    const liveness = await fetch(`${service.adminUrl}${container.livenessProbe?.httpGet?.path}`);
    const metrics = await fetch(`${service.adminUrl}${deployment.spec.template.metadata.annotations?.["prometheus.io/path"]}`);

    expect(liveness.status).toBe(200);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("# TYPE ");
  });

  it("issues a chat token", async () => {
    const client = createClient(TokenService, grpcTransport());
    const response = await client.issueChatToken(
      { userId: "user-1", channelId: "room-1", read: true },
      { headers: { authorization: `Bearer ${apiKey.key}` } },
    );

    expect(parseWithSdk(response.token).authorized_uuid).toBe("user-1");
  });

  it("reloads master credentials when the kubelet updates the Secret", async () => {
    const rotated = { ...TEST_CREDENTIALS, conferenceSecret: "rotated-conference-secret-4b9e2d71" };
    const rotatedKey = "rotated-master-key-0c5f8a3e92d1";
    imagePod.updateSecret({
      [`${MASTER_KEY_VARIABLE}_FILE`]: rotatedKey,
      [`${MASTER_SECRET_VARIABLE}_FILE`]: encodeMasterCredentials(rotatedKey, rotated),
    });
    // The service compares the files every CONFIG_WATCH_INTERVAL_MS, so this waits for its reload
    // counter, with a bound far above that interval.
    const applied = await waitForMetric(`${service.adminUrl}/metrics`, 'token_service_config_reloads_total{outcome="applied"} 1', 60_000);
    expect(applied).toBe(true);

    const client = createClient(TokenService, grpcTransport());
    const response = await client.issueConferenceToken(
      { userId: "user-1", roomId: "room-1", role: Role.PUBLISHER },
      { headers: { authorization: `Bearer ${apiKey.key}` } },
    );
    const { payload } = await jwtVerify(response.token, new TextEncoder().encode(rotated.conferenceSecret));
    expect(payload.roomId).toBe("room-1");
  });

  it("exits 0 on SIGTERM", async () => {
    for (const session of sessions) {
      session.abort();
    }
    service.child.kill("SIGTERM");
    const [code] = (await once(service.child, "exit")) as [number | null];

    expect(code).toBe(0);
    expect(service.stdout()).toContain('"msg":"server stopped"');
  });
});

/** Builds a callers file with one caller that may mint publisher and chat tokens for room-* rooms and channels. */
function buildTestCallers(keyId: string, hash: string) {
  return {
    callers: [
      {
        name: "deployment-test",
        apiKeys: [{ keyId, hash }],
        policy: {
          rpcs: ["IssueConferenceToken", "IssueChatToken"],
          roles: ["publisher"],
          rooms: ["room-*"],
          channels: ["room-*"],
          chatPermissions: { read: true, write: true },
          maxConferenceMinutes: 60,
          maxChatMinutes: 60,
        },
      },
    ],
  };
}

/** Polls a Prometheus endpoint until its text contains the line. Returns false if it does not within limitMs. */
async function waitForMetric(url: string, line: string, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const text = await (await fetch(url)).text();
    if (text.split("\n").includes(line)) {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

/** The image's entry point, running. */
interface StartedImage {
  readonly child: ChildProcess;
  readonly url: string;
  readonly adminUrl: string;
  stdout(): string;
}

/**
 * Starts the image's entry point in its WORKDIR, as the pod's user when the test runs as root, and
 * waits for the "server started" record. spawn cannot add fsGroup as a supplementary group, as
 * the kubelet does, so the process gets fsGroup as its primary group instead.
 */
async function startImage(image: BuiltStage, env: Record<string, string>, podSpec: PodSpec): Promise<StartedImage> {
  const [command, ...args] = JSON.parse(instructions(finalStage, "ENTRYPOINT").at(-1)?.args ?? "[]") as string[];
  const user = isRoot() ? { uid: podSpec.securityContext?.runAsUser, gid: podSpec.securityContext?.fsGroup ?? podSpec.securityContext?.runAsGroup } : {};
  const child = spawn(command === "node" ? process.execPath : (command ?? ""), args, {
    cwd: join(image.root, image.workdir),
    env: { ...env, PATH: process.env.PATH },
    stdio: ["ignore", "pipe", "pipe"],
    ...user,
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));

  const started = await new Promise<{ url: string; adminUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "server started" record within 60 s; stderr: ${stderr}`)), 60_000);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      const line = stdout.split("\n").find((text) => text.includes('"msg":"server started"'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { url: string; adminUrl: string });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the image's entry point exited with ${code} before starting; stderr: ${stderr}`));
    });
  });
  return { child, url: started.url, adminUrl: started.adminUrl, stdout: () => stdout };
}

function commandExists(command: string): boolean {
  return (process.env.PATH ?? "").split(":").some((directory) => directory !== "" && existsSync(join(directory, command)));
}

/** Runs a command and returns its standard output. Rejects on a non-zero exit. */
async function capture(command: string, args: readonly string[]): Promise<string> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const [code] = (await once(child, "close")) as [number | null];
  if (code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited with ${code}: ${stderr}`);
  }
  return stdout;
}
