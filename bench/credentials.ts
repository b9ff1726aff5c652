import { encodeMasterCredentials, type MasterCredentials } from "../src/credentials/master-credentials.js";

/** Master key of the benchmark's own credentials. It is not a Red5 key and works only with the emulator. */
export const BENCH_MASTER_KEY = "bench-master-key-4e1b9d7c02a6f853";

/** Credentials packed into the benchmark's master secret. */
export const BENCH_CREDENTIALS: MasterCredentials = {
  conferenceSecret: "bench-conference-secret-6b0f2c9e",
  pubnubSecretKey: "sec-c-bench-pubnub-secret-8a3d5e17",
  pubnubPublishKey: "pub-c-bench-publish-key",
  pubnubSubscribeKey: "sub-c-bench-subscribe-key",
  streamManagerHost: "sm.bench.invalid",
};

/** The master secret built with Red5's scheme from BENCH_CREDENTIALS, as RED5_MASTER_SECRET takes it. */
export const BENCH_MASTER_SECRET = encodeMasterCredentials(BENCH_MASTER_KEY, BENCH_CREDENTIALS);
