// Issues a conference token and a chat token for one user, as Red5's backend SDK examples do,
// through the token service instead of the master credentials.
//
//   TOKEN_SERVICE_URL=http://127.0.0.1:8080 npx tsx examples/node/issue-tokens.ts
import { pathToFileURL } from "node:url";
import { TokenServiceClient } from "../../src/client/index.js";

/** Tokens for one user joining one room. */
export interface UserTokens {
  readonly conferenceToken: string;
  readonly chatToken: string;
}

/** Issues the tokens a user needs to join a room: a publisher conference token and a chat token. */
export async function issueTokens(client: TokenServiceClient, userId: string, roomId: string): Promise<UserTokens> {
  const conferenceToken = await client.getConferenceToken(userId, roomId, "publisher", 60);
  const chatToken = await client.getChatToken(userId, roomId, true, true, 60);
  return { conferenceToken, chatToken };
}

async function main(): Promise<void> {
  const client = new TokenServiceClient({ baseUrl: process.env.TOKEN_SERVICE_URL ?? "http://127.0.0.1:8080" });
  const tokens = await issueTokens(client, "user-1", "room-1");

  // A token is a credential: print only enough to recognise it.
  console.log(`conference token: ${tokens.conferenceToken.slice(0, 16)}...`);
  console.log(`chat token: ${tokens.chatToken.slice(0, 16)}...`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
