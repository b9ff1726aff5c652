#!/usr/bin/env bash
# Installs the code generators and interop test tools, at pinned versions, into .tools/bin
# (git-ignored): Go programs from the Go module proxy, protoc and the grpc-java plugin from Maven
# Central, and Debian's nginx-light into /usr/sbin when it is missing. Safe to run again; it
# skips what is already there.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/.tools/bin"
mkdir -p "$bin"

PROTOC_GEN_GO=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
PROTOC_GEN_CONNECT_GO=connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.21.1
GRPCURL=github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
GRPC_HEALTH_PROBE=github.com/grpc-ecosystem/grpc-health-probe@v0.4.63
PROTOC=com.google.protobuf:protoc:4.36.2
PROTOC_GEN_GRPC_JAVA=io.grpc:protoc-gen-grpc-java:1.83.1

go_install() {
  local name=$1 package=$2
  if [ ! -x "$bin/$name" ] || [ "$(cat "$bin/.$name.version" 2>/dev/null)" != "$package" ]; then
    GOBIN="$bin" go install "$package"
    echo "$package" > "$bin/.$name.version"
  fi
}

maven_exe() {
  local name=$1 artifact=$2
  if [ ! -x "$bin/$name" ] || [ "$(cat "$bin/.$name.version" 2>/dev/null)" != "$artifact" ]; then
    mvn -q dependency:copy -Dartifact="$artifact:exe:linux-x86_64" -DoutputDirectory="$bin" -Dmdep.stripVersion=true -Dmdep.stripClassifier=true
    mv "$bin/$(echo "$artifact" | cut -d: -f2).exe" "$bin/$name"
    chmod +x "$bin/$name"
    echo "$artifact" > "$bin/.$name.version"
  fi
}

go_install protoc-gen-go "$PROTOC_GEN_GO"
go_install protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC"
go_install protoc-gen-connect-go "$PROTOC_GEN_CONNECT_GO"
go_install grpcurl "$GRPCURL"
go_install grpc-health-probe "$GRPC_HEALTH_PROBE"
maven_exe protoc "$PROTOC"
maven_exe protoc-gen-grpc-java "$PROTOC_GEN_GRPC_JAVA"

# nginx runs in front of several service processes in the multi-replica test. Debian's
# nginx-light is enough, because the test uses only the core, http_v2 and grpc modules.
install_nginx() {
  if [ -x /usr/sbin/nginx ]; then
    return
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get > /dev/null; then
    echo "install-tools.sh: /usr/sbin/nginx is missing, and this script installs it only as root with apt-get. Install nginx 1.22 or later (Debian and Ubuntu: apt-get install nginx-light), then run npm test again." >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light > /dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light > /dev/null; }
}

install_nginx
