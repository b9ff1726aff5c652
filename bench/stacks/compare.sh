#!/bin/sh
# Measures every serving stack in bench/stacks next to the production server, with the same load
# (bench/profile/drive.ts: h2load, 512 calls in flight, server pinned to core 0):
#
#   bench/stacks/compare.sh [ROUNDS] [CALLS]     # defaults: 1 round, 20000 calls per scenario
#
# It compiles the working tree twice: `npm run build` for the production server (dist/src/main.js)
# and bench/stacks/tsconfig.json for the stack servers (dist/stacks/). Each round runs every
# server once, so that a busy machine spreads over all of them alike.
set -eu
cd "$(dirname "$0")/../.."
rounds=${1:-1}
calls=${2:-20000}
npm run build --silent
node_modules/.bin/tsc -p bench/stacks/tsconfig.json
stacks=dist/stacks/bench/stacks
drive() {
  npx tsx bench/profile/drive.ts --calls "$calls" "$@" 2>&1 | grep '^|' | grep -v -e '^| scenario' -e '^|---'
}
round=1
while [ "$round" -le "$rounds" ]; do
  echo "round $round"
  echo "production (connect-node, edge, interceptors, audit):"
  drive --scenario noop-grpc,chat-grpc,conference-grpc,noop-connect,chat-connect
  for variant in adapter adapter-lean fast-path-compat fast-path-stream; do
    echo "connect-server VARIANT=$variant:"
    VARIANT=$variant drive --server "$stacks/connect-server.js" --scenario noop-grpc,chat-grpc,conference-grpc
  done
  echo "grpc-js-server:"
  drive --server "$stacks/grpc-js-server.js" --scenario noop-grpc,chat-grpc,conference-grpc
  round=$((round + 1))
done
