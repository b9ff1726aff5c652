// Go types, grpc-go stubs and connect-go clients generated from proto/red5/token/v1. Regenerate
// them with `npm run generate` at the repository root; never edit them.
module github.com/red5-token-service/red5-token-service/gen/go

go 1.26.0

require (
	// The generated code imports this module for the buf.validate options. This version holds
	// the same validate.proto as protovalidate 1.3.0, which scripts/proto-deps.sh pins.
	buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go v1.36.12-20260825204119-511051f7f437.1
	// protoc-gen-connect-go v1.21.1 generated the connect-go clients.
	connectrpc.com/connect v1.21.1
	// protoc-gen-go-grpc v1.6.0 needs grpc-go 1.64 or later.
	google.golang.org/grpc v1.85.0
	// protoc-gen-go v1.36.12 needs this runtime version or later.
	google.golang.org/protobuf v1.36.12
)

require (
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
)
