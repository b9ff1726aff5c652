// Go client for the red5-token-service TokenService (package red5token), over the grpc-go
// stubs of the gen/go module.
module github.com/red5-token-service/red5-token-service/clients/go

go 1.26.0

require (
	connectrpc.com/connect v1.21.1
	github.com/fxamacker/cbor/v2 v2.10.0
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/red5-token-service/red5-token-service/gen/go v0.0.0-00010101000000-000000000000
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261110000943-09e21b237f2c
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go v1.36.12-20260825204119-511051f7f437.1 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)

// The generated module is not published yet, so this module builds against the copy in this
// repository. A replace directive applies only to the main module: a program that requires this
// module needs the same replace, with its own path to gen/go, until both modules are published.
replace github.com/red5-token-service/red5-token-service/gen/go => ../../gen/go
