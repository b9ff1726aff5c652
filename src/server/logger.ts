import { pino, type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "../config.js";

export type { Logger };

/**
 * Paths that pino replaces with "[redacted]" wherever a record carries them, as a second line of
 * defence: the service never passes tokens or secrets to the logger in the first place.
 */
const REDACTED_PATHS = [
  "token",
  "*.token",
  "pubnubToken",
  "*.pubnubToken",
  "secret",
  "*.secret",
  "secretKey",
  "*.secretKey",
  "masterKey",
  "*.masterKey",
  "masterSecret",
  "*.masterSecret",
  "conferenceSecret",
  "*.conferenceSecret",
  "signature",
  "*.signature",
  "authorization",
  "*.authorization",
];

/** Creates the service's JSON logger, writing to stdout unless a destination is given. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "red5-token-service" },
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
  };
  return destination ? pino(options, destination) : pino(options);
}
