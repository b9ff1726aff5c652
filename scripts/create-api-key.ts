// Creates an API key for an internal caller.
//
// Usage: npx tsx scripts/create-api-key.ts <caller-name>
//
// Prints the key, which is shown only this once, and the JSON entry for the callers configuration.
// The entry contains the key's SHA-256 hash, never the key. Exits with status 2 on a usage error.
import { generateApiKey, isValidCallerName, type ApiKeyEntry } from "../src/auth/api-keys.js";

const USAGE = "Usage: npx tsx scripts/create-api-key.ts <caller-name>";

function main(args: readonly string[]): number {
  if (args.length === 1 && (args[0] === "--help" || args[0] === "-h")) {
    process.stdout.write(`${USAGE}\nCaller names are 1 to 64 characters of a-z, 0-9, "-", "_" and ".".\n`);
    return 0;
  }
  if (args.length !== 1) {
    process.stderr.write(`create-api-key: expected one argument, the caller name; got ${args.length}.\n${USAGE}\n`);
    return 2;
  }

  const caller = args[0] ?? "";
  if (!isValidCallerName(caller)) {
    process.stderr.write(`create-api-key: invalid caller name ${JSON.stringify(caller)}: use 1 to 64 characters of a-z, 0-9, "-", "_" and ".".\n${USAGE}\n`);
    return 2;
  }

  const { key, keyId, hash } = generateApiKey();
  const entry: ApiKeyEntry = { caller, keyId, hash };
  process.stdout.write(
    [
      `API key for caller ${caller} (key id ${keyId}):`,
      key,
      "Store it now in the caller's secret store: it will not be shown again.",
      "",
      "Add this entry to the callers configuration:",
      JSON.stringify(entry),
      "",
    ].join("\n"),
  );
  return 0;
}

process.exitCode = main(process.argv.slice(2));
