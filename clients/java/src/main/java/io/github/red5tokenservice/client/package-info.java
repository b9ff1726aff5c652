/**
 * Java client of the Red5 token service, which mints Red5 conference tokens and PubNub chat
 * tokens so that backends need not hold the Red5 master credentials.
 *
 * <p>{@link io.github.red5tokenservice.client.TokenServiceClient} has the methods of Red5's backend
 * SDKs, {@code getConferenceToken} and {@code getChatToken}, so code that used the SDK changes only
 * where it builds the client. Failures are {@link
 * io.github.red5tokenservice.client.TokenServiceException}s.
 */
package io.github.red5tokenservice.client;
