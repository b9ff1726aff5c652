#!/bin/sh
# Compiles the service as of a commit, or as in the working tree, into its own folder, so that
# before/after runs of bench/profile/drive.ts compare two builds side by side:
#
#   bench/profile/build-snapshot.sh HEAD base       # -> dist/profile/base/dist/src/main.js
#   bench/profile/build-snapshot.sh WORKTREE new    # -> dist/profile/new/dist/src/main.js
#
# The folder sits under dist/, so Node.js finds the repository's node_modules from it.
set -eu
revision=$1
name=$2
cd "$(dirname "$0")/../.."
target=dist/profile/$name
rm -rf "$target"
mkdir -p "$target"
if [ "$revision" = WORKTREE ]; then
  tar -cf - src gen/ts tsconfig.json tsconfig.build.json | tar -xf - -C "$target"
else
  git archive "$revision" src gen/ts tsconfig.json tsconfig.build.json | tar -xf - -C "$target"
fi
(cd "$target" && ../../../node_modules/.bin/tsc -p tsconfig.build.json)
echo "$target/dist/src/main.js"
