package io.github.red5tokenservice.client;

import io.github.red5tokenservice.token.v1.IssueChatTokenRequest;
import io.github.red5tokenservice.token.v1.IssueChatTokenResponse;
import io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest;
import io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse;
import io.github.red5tokenservice.token.v1.TokenServiceGrpc;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Test double of the token service that records each request with its headers and deadline, and
 * responds with fixed tokens or with the failure a test sets.
 */
final class RecordingTokenService extends TokenServiceGrpc.TokenServiceImplBase {

  static final String CONFERENCE_TOKEN = "conference-token-from-test-service";
  static final String CHAT_TOKEN = "chat-token-from-test-service";

  final AtomicInteger calls = new AtomicInteger();
  volatile IssueConferenceTokenRequest conferenceRequest;
  volatile IssueChatTokenRequest chatRequest;
  volatile Metadata headers;
  volatile Deadline deadline;
  volatile StatusRuntimeException failure;

  /** Returns this service with an interceptor that records the headers and deadline of each call. */
  ServerServiceDefinition definition() {
    ServerInterceptor recorder = new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(
          ServerCall<Q, R> call, Metadata requestHeaders, ServerCallHandler<Q, R> next) {
        calls.incrementAndGet();
        headers = requestHeaders;
        deadline = Context.current().getDeadline();
        return next.startCall(call, requestHeaders);
      }
    };
    return ServerInterceptors.intercept(this, recorder);
  }

  @Override
  public void issueConferenceToken(
      IssueConferenceTokenRequest request, StreamObserver<IssueConferenceTokenResponse> responseObserver) {
    conferenceRequest = request;
    if (failure != null) {
      responseObserver.onError(failure);
      return;
    }
    responseObserver.onNext(
        IssueConferenceTokenResponse.newBuilder().setToken(CONFERENCE_TOKEN).setRole(request.getRole()).build());
    responseObserver.onCompleted();
  }

  @Override
  public void issueChatToken(IssueChatTokenRequest request, StreamObserver<IssueChatTokenResponse> responseObserver) {
    chatRequest = request;
    if (failure != null) {
      responseObserver.onError(failure);
      return;
    }
    responseObserver.onNext(IssueChatTokenResponse.newBuilder().setToken(CHAT_TOKEN).build());
    responseObserver.onCompleted();
  }
}
