export {
  TokenServiceClient,
  TokenServiceError,
  type ConferenceRoleName,
  type FieldViolation,
  type TokenServiceClientOptions,
} from "./token-service-client.js";
