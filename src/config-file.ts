import { readFileSync } from "node:fs";
import { parseDocument as parseYaml } from "yaml";

/** Environment variables, as in process.env. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** A setting with an invalid value. The message names the setting and the fix, never a secret. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";

  /**
   * @param setting environment name of the setting, such as PORT
   * @param message what is wrong and how to fix it, after the setting's label
   * @param label how the message names the setting; default: its environment name
   */
  constructor(
    readonly setting: string,
    message: string,
    label: string = setting,
  ) {
    super(`${label} ${message}`);
  }
}

/**
 * Settings the configuration file may not hold: secrets belong in the environment or in files of
 * their own (such as mounted Kubernetes Secrets), never in a file that is often a ConfigMap.
 */
const SECRET_SETTINGS: Readonly<Record<string, string>> = {
  RED5_MASTER_KEY: "RED5_MASTER_KEY_FILE",
  RED5_MASTER_SECRET: "RED5_MASTER_SECRET_FILE",
};

/** Converts an environment name to its key in the configuration file: PUBNUB_MAX_ATTEMPTS to pubnubMaxAttempts. */
export function fileKey(setting: string): string {
  return setting.toLowerCase().replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
}

/**
 * Raw setting values from the environment and an optional configuration file (YAML or JSON).
 * The environment wins over the file, so one replica can override a shared file.
 */
export class SettingSource {
  private readonly fileValues = new Map<string, string>();

  /**
   * @param env environment variables
   * @param settings environment names of every setting the file may hold
   * @param file path of the configuration file, when there is one
   */
  constructor(
    private readonly env: Environment,
    settings: readonly string[],
    private readonly file?: string,
  ) {
    if (file !== undefined) {
      this.readFile(file, settings);
    }
  }

  /**
   * Returns the raw value, or undefined when unset or blank. A blank environment variable counts
   * as unset, so it never hides the file's value.
   */
  get(setting: string): string | undefined {
    return nonBlank(this.env[setting]) ?? nonBlank(this.fileValues.get(setting));
  }

  /** Returns the raw value even when blank, for settings where blank differs from unset. */
  getRaw(setting: string): string | undefined {
    return this.env[setting] ?? this.fileValues.get(setting);
  }

  /** Returns the name messages use for a setting: its environment name, or its key and file. */
  label(setting: string): string {
    if (nonBlank(this.env[setting]) === undefined && this.fileValues.has(setting)) {
      return `${fileKey(setting)} in ${this.file}`;
    }
    return setting;
  }

  /** Throws ConfigError naming the setting, as the message labels it. */
  fail(setting: string, message: string): never {
    throw new ConfigError(setting, message, this.label(setting));
  }

  private readFile(file: string, settings: readonly string[]): void {
    const document = parseDocument(file, readText("CONFIG_FILE", file));
    const known = new Map(settings.map((setting) => [fileKey(setting), setting]));
    for (const [key, value] of Object.entries(document)) {
      const setting = known.get(key) ?? rejectKey(file, key, known);
      this.fileValues.set(setting, scalarText(file, key, value));
    }
  }
}

/** Reads a file a setting names, with an error naming the setting and the path, never the content. */
export function readText(setting: string, path: string, label: string = setting): string {
  try {
    return readFileSync(path, "utf8").replace(/^\uFEFF/, "");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "read error";
    throw new ConfigError(setting, `names a file that cannot be read (${code}): ${path}`, label);
  }
}

function parseDocument(file: string, text: string): Record<string, unknown> {
  // "silent": the parser would print warnings, which quote the file, to stderr. Warnings such as
  // an unknown tag are errors here instead.
  const parsed = parseYaml(text, { uniqueKeys: true, logLevel: "silent", prettyErrors: true });
  const problem = parsed.errors[0] ?? parsed.warnings[0];
  if (problem !== undefined) {
    // Only the position and the parser's code: its message quotes the file.
    const position = problem.linePos?.[0];
    const where = position === undefined ? "" : ` at line ${position.line}, column ${position.col}`;
    throw new ConfigError("CONFIG_FILE", `${file} is not valid YAML or JSON${where} (${problem.code}). Check its syntax.`);
  }
  let document: unknown;
  try {
    document = parsed.toJS({ maxAliasCount: 100 });
  } catch {
    throw new ConfigError("CONFIG_FILE", `${file} uses too many YAML aliases. Write the values out.`);
  }
  if (document === null || document === undefined) {
    return {};
  }
  if (typeof document !== "object" || Array.isArray(document)) {
    throw new ConfigError("CONFIG_FILE", `${file} must hold a mapping of setting names to values, such as "port: 8080".`);
  }
  return document as Record<string, unknown>;
}

function rejectKey(file: string, key: string, known: ReadonlyMap<string, string>): never {
  const secret = Object.keys(SECRET_SETTINGS).find((name) => name === key || fileKey(name) === key);
  if (secret !== undefined) {
    throw new ConfigError(
      "CONFIG_FILE",
      `${file} holds ${key}, a secret. Keep secrets out of the configuration file: set ${fileKey(SECRET_SETTINGS[secret] ?? "")} to a file that holds it, or use the environment.`,
    );
  }
  // Environment-style names (PORT) and wrong case (Port) get the right spelling.
  const setting = known.get(fileKey(key));
  const hint = setting !== undefined ? ` Write it as ${fileKey(setting)}.` : " See the settings table in the README.";
  throw new ConfigError("CONFIG_FILE", `${file} has the unknown setting ${JSON.stringify(key.slice(0, 64))}.${hint}`);
}

function scalarText(file: string, key: string, value: unknown): string {
  if (typeof value === "string") {
    return value;
  }
  if (typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  const problem = value === null ? "has no value" : "is not a single value";
  throw new ConfigError("CONFIG_FILE", `${file}: ${key} ${problem}. Give it a string, number or true/false, or remove it.`);
}

function nonBlank(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
