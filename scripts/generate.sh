#!/usr/bin/env bash
# Regenerates gen/ for every language from proto/: installs the pinned plugins, removes what an
# earlier run generated (so that a deleted proto leaves no stale file), then runs buf generate.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-tools.sh
rm -rf gen/ts gen/go/red5 gen/java/src/main/java
npx buf generate
