#!/usr/bin/env bash
# Fails when the contract in proto/ changes in a way that breaks deployed clients. It runs buf
# breaking with the FILE rules of buf.yaml (wire, JSON and generated-code compatibility) on each
# commit that touched the contract, against its parent, and on uncommitted changes, against HEAD.
# Tighter protovalidate rules are not detected: they are options, not schema. History starts at the commit that added
# third_party/protovalidate, because older commits cannot be built on their own.
set -euo pipefail
cd "$(dirname "$0")/.."

buf=node_modules/.bin/buf
base=$(git log --format=%H --diff-filter=A -1 -- third_party/protovalidate/buf/validate/validate.proto)
if [ -z "$base" ]; then
  echo "check-breaking: no commit adds third_party/protovalidate; nothing to compare" >&2
  exit 1
fi

status=0
for commit in $(git rev-list --reverse "$base..HEAD" -- proto third_party buf.yaml); do
  # buf clones a git input 50 commits deep by default, so the depth must reach the parent.
  depth=$(($(git rev-list --count "$commit..HEAD") + 2))
  if ! "$buf" breaking ".git#ref=$commit,depth=$depth" --against ".git#ref=$commit~1,depth=$depth"; then
    echo "check-breaking: commit $(git log --format='%h %s' -1 "$commit") breaks the contract" >&2
    status=1
  fi
done

if ! "$buf" breaking --against ".git#ref=HEAD"; then
  echo "check-breaking: uncommitted changes break the contract" >&2
  status=1
fi
exit "$status"
