package io.github.red5tokenservice.token.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * TokenService mints short-lived access tokens for Red5 video conferences and PubNub chat, so that
 * callers never hold the Red5 master credentials.
 * Every request is checked against the rules declared on its fields before any call to PubNub.
 * A request that breaks a rule fails with INVALID_ARGUMENT; the error carries a
 * google.rpc.BadRequest detail with one field violation per broken rule, naming the field.
 * Errors shared by both methods:
 *   - INVALID_ARGUMENT: a field breaks a rule below, or requests more minutes than this deployment
 *     allows (the server's TOKEN_MAX_MINUTES setting, at most 43200).
 *   - UNAVAILABLE: PubNub could not be reached or kept failing after bounded retries. Safe to retry.
 *   - DEADLINE_EXCEEDED: the caller's deadline, or the server's budget for calls without one,
 *     passed before PubNub responded.
 *   - FAILED_PRECONDITION: PubNub rejected the service's own credentials or request signature.
 *     Retrying does not help; the operator must fix the deployment.
 *   - INTERNAL: an unexpected failure. Its detail is logged on the server, not returned.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class TokenServiceGrpc {

  private TokenServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "red5.token.v1.TokenService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest,
      io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse> getIssueConferenceTokenMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "IssueConferenceToken",
      requestType = io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest.class,
      responseType = io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest,
      io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse> getIssueConferenceTokenMethod() {
    io.grpc.MethodDescriptor<io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest, io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse> getIssueConferenceTokenMethod;
    if ((getIssueConferenceTokenMethod = TokenServiceGrpc.getIssueConferenceTokenMethod) == null) {
      synchronized (TokenServiceGrpc.class) {
        if ((getIssueConferenceTokenMethod = TokenServiceGrpc.getIssueConferenceTokenMethod) == null) {
          TokenServiceGrpc.getIssueConferenceTokenMethod = getIssueConferenceTokenMethod =
              io.grpc.MethodDescriptor.<io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest, io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "IssueConferenceToken"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse.getDefaultInstance()))
              .setSchemaDescriptor(new TokenServiceMethodDescriptorSupplier("IssueConferenceToken"))
              .build();
        }
      }
    }
    return getIssueConferenceTokenMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.red5tokenservice.token.v1.IssueChatTokenRequest,
      io.github.red5tokenservice.token.v1.IssueChatTokenResponse> getIssueChatTokenMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "IssueChatToken",
      requestType = io.github.red5tokenservice.token.v1.IssueChatTokenRequest.class,
      responseType = io.github.red5tokenservice.token.v1.IssueChatTokenResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.red5tokenservice.token.v1.IssueChatTokenRequest,
      io.github.red5tokenservice.token.v1.IssueChatTokenResponse> getIssueChatTokenMethod() {
    io.grpc.MethodDescriptor<io.github.red5tokenservice.token.v1.IssueChatTokenRequest, io.github.red5tokenservice.token.v1.IssueChatTokenResponse> getIssueChatTokenMethod;
    if ((getIssueChatTokenMethod = TokenServiceGrpc.getIssueChatTokenMethod) == null) {
      synchronized (TokenServiceGrpc.class) {
        if ((getIssueChatTokenMethod = TokenServiceGrpc.getIssueChatTokenMethod) == null) {
          TokenServiceGrpc.getIssueChatTokenMethod = getIssueChatTokenMethod =
              io.grpc.MethodDescriptor.<io.github.red5tokenservice.token.v1.IssueChatTokenRequest, io.github.red5tokenservice.token.v1.IssueChatTokenResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "IssueChatToken"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.red5tokenservice.token.v1.IssueChatTokenRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.red5tokenservice.token.v1.IssueChatTokenResponse.getDefaultInstance()))
              .setSchemaDescriptor(new TokenServiceMethodDescriptorSupplier("IssueChatToken"))
              .build();
        }
      }
    }
    return getIssueChatTokenMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static TokenServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<TokenServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<TokenServiceStub>() {
        @java.lang.Override
        public TokenServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new TokenServiceStub(channel, callOptions);
        }
      };
    return TokenServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static TokenServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<TokenServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<TokenServiceBlockingV2Stub>() {
        @java.lang.Override
        public TokenServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new TokenServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return TokenServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static TokenServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<TokenServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<TokenServiceBlockingStub>() {
        @java.lang.Override
        public TokenServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new TokenServiceBlockingStub(channel, callOptions);
        }
      };
    return TokenServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static TokenServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<TokenServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<TokenServiceFutureStub>() {
        @java.lang.Override
        public TokenServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new TokenServiceFutureStub(channel, callOptions);
        }
      };
    return TokenServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * TokenService mints short-lived access tokens for Red5 video conferences and PubNub chat, so that
   * callers never hold the Red5 master credentials.
   * Every request is checked against the rules declared on its fields before any call to PubNub.
   * A request that breaks a rule fails with INVALID_ARGUMENT; the error carries a
   * google.rpc.BadRequest detail with one field violation per broken rule, naming the field.
   * Errors shared by both methods:
   *   - INVALID_ARGUMENT: a field breaks a rule below, or requests more minutes than this deployment
   *     allows (the server's TOKEN_MAX_MINUTES setting, at most 43200).
   *   - UNAVAILABLE: PubNub could not be reached or kept failing after bounded retries. Safe to retry.
   *   - DEADLINE_EXCEEDED: the caller's deadline, or the server's budget for calls without one,
   *     passed before PubNub responded.
   *   - FAILED_PRECONDITION: PubNub rejected the service's own credentials or request signature.
   *     Retrying does not help; the operator must fix the deployment.
   *   - INTERNAL: an unexpected failure. Its detail is logged on the server, not returned.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Issues a Red5 conference token: an HS256 JWT signed with the conference secret, carrying the
     * user id, room id, role, PubNub publish and subscribe keys, and a PubNub Access Manager token
     * for the room's chat channel and its presence channel.
     * </pre>
     */
    default void issueConferenceToken(io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest request,
        io.grpc.stub.StreamObserver<io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getIssueConferenceTokenMethod(), responseObserver);
    }

    /**
     * <pre>
     * Issues a PubNub Access Manager v3 token for one chat channel and its presence channel
     * (channel_id + "-pnpres"), with read and/or write permission. PubNub mints the token.
     * </pre>
     */
    default void issueChatToken(io.github.red5tokenservice.token.v1.IssueChatTokenRequest request,
        io.grpc.stub.StreamObserver<io.github.red5tokenservice.token.v1.IssueChatTokenResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getIssueChatTokenMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service TokenService.
   * <pre>
   * TokenService mints short-lived access tokens for Red5 video conferences and PubNub chat, so that
   * callers never hold the Red5 master credentials.
   * Every request is checked against the rules declared on its fields before any call to PubNub.
   * A request that breaks a rule fails with INVALID_ARGUMENT; the error carries a
   * google.rpc.BadRequest detail with one field violation per broken rule, naming the field.
   * Errors shared by both methods:
   *   - INVALID_ARGUMENT: a field breaks a rule below, or requests more minutes than this deployment
   *     allows (the server's TOKEN_MAX_MINUTES setting, at most 43200).
   *   - UNAVAILABLE: PubNub could not be reached or kept failing after bounded retries. Safe to retry.
   *   - DEADLINE_EXCEEDED: the caller's deadline, or the server's budget for calls without one,
   *     passed before PubNub responded.
   *   - FAILED_PRECONDITION: PubNub rejected the service's own credentials or request signature.
   *     Retrying does not help; the operator must fix the deployment.
   *   - INTERNAL: an unexpected failure. Its detail is logged on the server, not returned.
   * </pre>
   */
  public static abstract class TokenServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return TokenServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service TokenService.
   * <pre>
   * TokenService mints short-lived access tokens for Red5 video conferences and PubNub chat, so that
   * callers never hold the Red5 master credentials.
   * Every request is checked against the rules declared on its fields before any call to PubNub.
   * A request that breaks a rule fails with INVALID_ARGUMENT; the error carries a
   * google.rpc.BadRequest detail with one field violation per broken rule, naming the field.
   * Errors shared by both methods:
   *   - INVALID_ARGUMENT: a field breaks a rule below, or requests more minutes than this deployment
   *     allows (the server's TOKEN_MAX_MINUTES setting, at most 43200).
   *   - UNAVAILABLE: PubNub could not be reached or kept failing after bounded retries. Safe to retry.
   *   - DEADLINE_EXCEEDED: the caller's deadline, or the server's budget for calls without one,
   *     passed before PubNub responded.
   *   - FAILED_PRECONDITION: PubNub rejected the service's own credentials or request signature.
   *     Retrying does not help; the operator must fix the deployment.
   *   - INTERNAL: an unexpected failure. Its detail is logged on the server, not returned.
   * </pre>
   */
  public static final class TokenServiceStub
      extends io.grpc.stub.AbstractAsyncStub<TokenServiceStub> {
    private TokenServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected TokenServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new TokenServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Issues a Red5 conference token: an HS256 JWT signed with the conference secret, carrying the
     * user id, room id, role, PubNub publish and subscribe keys, and a PubNub Access Manager token
     * for the room's chat channel and its presence channel.
     * </pre>
     */
    public void issueConferenceToken(io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest request,
        io.grpc.stub.StreamObserver<io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getIssueConferenceTokenMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Issues a PubNub Access Manager v3 token for one chat channel and its presence channel
     * (channel_id + "-pnpres"), with read and/or write permission. PubNub mints the token.
     * </pre>
     */
    public void issueChatToken(io.github.red5tokenservice.token.v1.IssueChatTokenRequest request,
        io.grpc.stub.StreamObserver<io.github.red5tokenservice.token.v1.IssueChatTokenResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getIssueChatTokenMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service TokenService.
   * <pre>
   * TokenService mints short-lived access tokens for Red5 video conferences and PubNub chat, so that
   * callers never hold the Red5 master credentials.
   * Every request is checked against the rules declared on its fields before any call to PubNub.
   * A request that breaks a rule fails with INVALID_ARGUMENT; the error carries a
   * google.rpc.BadRequest detail with one field violation per broken rule, naming the field.
   * Errors shared by both methods:
   *   - INVALID_ARGUMENT: a field breaks a rule below, or requests more minutes than this deployment
   *     allows (the server's TOKEN_MAX_MINUTES setting, at most 43200).
   *   - UNAVAILABLE: PubNub could not be reached or kept failing after bounded retries. Safe to retry.
   *   - DEADLINE_EXCEEDED: the caller's deadline, or the server's budget for calls without one,
   *     passed before PubNub responded.
   *   - FAILED_PRECONDITION: PubNub rejected the service's own credentials or request signature.
   *     Retrying does not help; the operator must fix the deployment.
   *   - INTERNAL: an unexpected failure. Its detail is logged on the server, not returned.
   * </pre>
   */
  public static final class TokenServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<TokenServiceBlockingV2Stub> {
    private TokenServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected TokenServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new TokenServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Issues a Red5 conference token: an HS256 JWT signed with the conference secret, carrying the
     * user id, room id, role, PubNub publish and subscribe keys, and a PubNub Access Manager token
     * for the room's chat channel and its presence channel.
     * </pre>
     */
    public io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse issueConferenceToken(io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getIssueConferenceTokenMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Issues a PubNub Access Manager v3 token for one chat channel and its presence channel
     * (channel_id + "-pnpres"), with read and/or write permission. PubNub mints the token.
     * </pre>
     */
    public io.github.red5tokenservice.token.v1.IssueChatTokenResponse issueChatToken(io.github.red5tokenservice.token.v1.IssueChatTokenRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getIssueChatTokenMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service TokenService.
   * <pre>
   * TokenService mints short-lived access tokens for Red5 video conferences and PubNub chat, so that
   * callers never hold the Red5 master credentials.
   * Every request is checked against the rules declared on its fields before any call to PubNub.
   * A request that breaks a rule fails with INVALID_ARGUMENT; the error carries a
   * google.rpc.BadRequest detail with one field violation per broken rule, naming the field.
   * Errors shared by both methods:
   *   - INVALID_ARGUMENT: a field breaks a rule below, or requests more minutes than this deployment
   *     allows (the server's TOKEN_MAX_MINUTES setting, at most 43200).
   *   - UNAVAILABLE: PubNub could not be reached or kept failing after bounded retries. Safe to retry.
   *   - DEADLINE_EXCEEDED: the caller's deadline, or the server's budget for calls without one,
   *     passed before PubNub responded.
   *   - FAILED_PRECONDITION: PubNub rejected the service's own credentials or request signature.
   *     Retrying does not help; the operator must fix the deployment.
   *   - INTERNAL: an unexpected failure. Its detail is logged on the server, not returned.
   * </pre>
   */
  public static final class TokenServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<TokenServiceBlockingStub> {
    private TokenServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected TokenServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new TokenServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Issues a Red5 conference token: an HS256 JWT signed with the conference secret, carrying the
     * user id, room id, role, PubNub publish and subscribe keys, and a PubNub Access Manager token
     * for the room's chat channel and its presence channel.
     * </pre>
     */
    public io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse issueConferenceToken(io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getIssueConferenceTokenMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Issues a PubNub Access Manager v3 token for one chat channel and its presence channel
     * (channel_id + "-pnpres"), with read and/or write permission. PubNub mints the token.
     * </pre>
     */
    public io.github.red5tokenservice.token.v1.IssueChatTokenResponse issueChatToken(io.github.red5tokenservice.token.v1.IssueChatTokenRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getIssueChatTokenMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service TokenService.
   * <pre>
   * TokenService mints short-lived access tokens for Red5 video conferences and PubNub chat, so that
   * callers never hold the Red5 master credentials.
   * Every request is checked against the rules declared on its fields before any call to PubNub.
   * A request that breaks a rule fails with INVALID_ARGUMENT; the error carries a
   * google.rpc.BadRequest detail with one field violation per broken rule, naming the field.
   * Errors shared by both methods:
   *   - INVALID_ARGUMENT: a field breaks a rule below, or requests more minutes than this deployment
   *     allows (the server's TOKEN_MAX_MINUTES setting, at most 43200).
   *   - UNAVAILABLE: PubNub could not be reached or kept failing after bounded retries. Safe to retry.
   *   - DEADLINE_EXCEEDED: the caller's deadline, or the server's budget for calls without one,
   *     passed before PubNub responded.
   *   - FAILED_PRECONDITION: PubNub rejected the service's own credentials or request signature.
   *     Retrying does not help; the operator must fix the deployment.
   *   - INTERNAL: an unexpected failure. Its detail is logged on the server, not returned.
   * </pre>
   */
  public static final class TokenServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<TokenServiceFutureStub> {
    private TokenServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected TokenServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new TokenServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Issues a Red5 conference token: an HS256 JWT signed with the conference secret, carrying the
     * user id, room id, role, PubNub publish and subscribe keys, and a PubNub Access Manager token
     * for the room's chat channel and its presence channel.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse> issueConferenceToken(
        io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getIssueConferenceTokenMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Issues a PubNub Access Manager v3 token for one chat channel and its presence channel
     * (channel_id + "-pnpres"), with read and/or write permission. PubNub mints the token.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.red5tokenservice.token.v1.IssueChatTokenResponse> issueChatToken(
        io.github.red5tokenservice.token.v1.IssueChatTokenRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getIssueChatTokenMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_ISSUE_CONFERENCE_TOKEN = 0;
  private static final int METHODID_ISSUE_CHAT_TOKEN = 1;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_ISSUE_CONFERENCE_TOKEN:
          serviceImpl.issueConferenceToken((io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest) request,
              (io.grpc.stub.StreamObserver<io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse>) responseObserver);
          break;
        case METHODID_ISSUE_CHAT_TOKEN:
          serviceImpl.issueChatToken((io.github.red5tokenservice.token.v1.IssueChatTokenRequest) request,
              (io.grpc.stub.StreamObserver<io.github.red5tokenservice.token.v1.IssueChatTokenResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getIssueConferenceTokenMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest,
              io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse>(
                service, METHODID_ISSUE_CONFERENCE_TOKEN)))
        .addMethod(
          getIssueChatTokenMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.red5tokenservice.token.v1.IssueChatTokenRequest,
              io.github.red5tokenservice.token.v1.IssueChatTokenResponse>(
                service, METHODID_ISSUE_CHAT_TOKEN)))
        .build();
  }

  private static abstract class TokenServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    TokenServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return io.github.red5tokenservice.token.v1.TokenServiceProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("TokenService");
    }
  }

  private static final class TokenServiceFileDescriptorSupplier
      extends TokenServiceBaseDescriptorSupplier {
    TokenServiceFileDescriptorSupplier() {}
  }

  private static final class TokenServiceMethodDescriptorSupplier
      extends TokenServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    TokenServiceMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (TokenServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new TokenServiceFileDescriptorSupplier())
              .addMethod(getIssueConferenceTokenMethod())
              .addMethod(getIssueChatTokenMethod())
              .build();
        }
      }
    }
    return result;
  }
}
