#!/usr/bin/env bash
# Refreshes third_party/protovalidate/buf/validate/validate.proto, which proto/red5 imports, from the
# protovalidate-java jar on Maven Central. The file is committed, because the Buf Schema Registry,
# where buf would normally resolve this dependency, is not reachable from every build machine.
set -euo pipefail

version=1.3.0
top=$(cd "$(dirname "$0")/.." && pwd)
target="$top/third_party/protovalidate/buf/validate/validate.proto"
jar="$HOME/.m2/repository/build/buf/protovalidate/$version/protovalidate-$version.jar"

if [ ! -f "$jar" ]; then
  mvn -q dependency:get -Dartifact="build.buf:protovalidate:$version" -Dtransitive=false
fi
mkdir -p "$(dirname "$target")"
unzip -p "$jar" buf/validate/validate.proto > "$target.tmp"
mv "$target.tmp" "$target"
