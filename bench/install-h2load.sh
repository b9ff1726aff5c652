#!/usr/bin/env bash
# Installs h2load, the HTTP/2 load generator of the benchmark, from Debian's nghttp2-client
# package. Does nothing when h2load is already on PATH. apt-get needs root.
set -euo pipefail

if command -v h2load >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "h2load is missing and installing it needs root: run 'apt-get install -y nghttp2-client' as root." >&2
  exit 1
fi

echo "h2load not found; installing nghttp2-client with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq nghttp2-client >/dev/null
h2load --version
