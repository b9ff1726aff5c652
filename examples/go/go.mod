// Example program for the red5token Go client.
module github.com/red5-token-service/red5-token-service/examples/go

go 1.26.0

require (
	github.com/red5-token-service/red5-token-service/clients/go v0.0.0-00010101000000-000000000000
	github.com/red5-token-service/red5-token-service/gen/go v0.0.0-00010101000000-000000000000
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go v1.36.12-20260825204119-511051f7f437.1 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261110000943-09e21b237f2c // indirect
)

// Neither module is published yet, so the example builds against the copies in this repository.
// Both need a replace here, because a replace in clients/go/go.mod applies only when clients/go
// is the main module.
replace (
	github.com/red5-token-service/red5-token-service/clients/go => ../../clients/go
	github.com/red5-token-service/red5-token-service/gen/go => ../../gen/go
)
