/**
 * Summarizes a V8 CPU profile (node --cpu-prof) by where the time was spent.
 *
 *   npx tsx bench/profile/summarize.ts PROFILE.cpuprofile [--top 30]
 *
 * Prints self time by group, as a share of the busy time (everything but idle): each package in
 * node_modules, each file of the service, Node.js internals by module, and V8's own entries
 * (garbage collector, program). Then the functions with the most self time, and the inclusive
 * time of chosen entry points, such as the protovalidate validator or pino's write.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Functions whose inclusive time is reported, by a test on the function name and URL. */
const ENTRY_POINTS: ReadonlyArray<readonly [string, (frame: ProfileNode["callFrame"]) => boolean]> = [
  ["protovalidate validate()", (frame) => frame.url.includes("@bufbuild/protovalidate") && frame.functionName === "validate"],
  ["jose SignJWT.sign()", (frame) => frame.url.includes("/jose/") && frame.functionName === "sign"],
  ["pino write (LOG)", (frame) => frame.url.includes("/pino/") && frame.functionName === "LOG"],
  ["undici Pool.request()", (frame) => frame.url.includes("/undici/") && frame.functionName === "request"],
  ["prom-client Histogram.observe()", (frame) => frame.url.includes("prom-client") && frame.functionName === "observe"],
  ["connect-node universal handler", (frame) => frame.url.includes("@connectrpc") && frame.functionName === "universalHandler"],
];

function groupOf(url: string, functionName: string): string {
  if (url === "") {
    return functionName.startsWith("(") ? functionName : "(native)";
  }
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) {
    return modules[1] as string;
  }
  if (url.startsWith("node:")) {
    return url.replace(/^node:internal\//, "node:").replace(/\/.*$/, "");
  }
  const service = /\/(?:dist\/(?:stacks\/)?)?((?:src|gen|bench)\/.*)$/.exec(url);
  return service ? (service[1] as string) : url;
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "30" } } });
  const profile = JSON.parse(readFileSync(positionals[0] ?? "", "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parents.set(child, node.id);
    }
  }

  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, index) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  let busy = 0;
  for (const [id, micros] of selfMicros) {
    if (byId.get(id)?.callFrame.functionName !== "(idle)") {
      busy += micros;
    }
  }

  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined || frame.functionName === "(idle)") {
      continue;
    }
    const group = groupOf(frame.url, frame.functionName);
    groups.set(group, (groups.get(group) ?? 0) + micros);
    const name = `${frame.functionName || "(anonymous)"} ${group}:${frame.lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + micros);
  }

  const inclusive = new Map<string, number>();
  for (const [id, micros] of selfMicros) {
    const counted = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parents.get(current)) {
      const frame = byId.get(current)?.callFrame;
      for (const [label, matches] of ENTRY_POINTS) {
        if (frame !== undefined && !counted.has(label) && matches(frame)) {
          counted.add(label);
          inclusive.set(label, (inclusive.get(label) ?? 0) + micros);
        }
      }
    }
  }

  const share = (micros: number) => `${((100 * micros) / busy).toFixed(1).padStart(5)} %`;
  const print = (title: string, entries: Map<string, number>, limit: number) => {
    process.stdout.write(`\n${title}\n`);
    for (const [name, micros] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
      process.stdout.write(`${share(micros)}  ${name}\n`);
    }
  };
  process.stdout.write(`busy time ${(busy / 1e6).toFixed(2)} s\n`);
  print("self time by group", groups, 40);
  print("self time by function", functions, Number(values.top));
  print("inclusive time of entry points", inclusive, ENTRY_POINTS.length);
}

main();
