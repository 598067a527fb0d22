#!/usr/bin/env bash
# The release core on this machine, no cluster: a bare repository made from
# sample-repo/, then validate, plan, release, revert and history against it
# through the real git transport. Run it with `make demo`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$here/.venv/bin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export XDG_CACHE_HOME="$work/cache"
export GIT_CONFIG_NOSYSTEM=1 HOME="$work/home"
mkdir -p "$HOME"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@"; }

git init -q --bare -b main "$work/fleet.git"
git -C "$work/fleet.git" config receive.denyNonFastForwards true
git clone -q "$work/fleet.git" "$work/checkout" 2>/dev/null
cp -R "$here/sample-repo/." "$work/checkout/"
git -C "$work/checkout" add -A
git -C "$work/checkout" -c user.name="Platform Team" -c user.email=platform@example.com \
  commit -q -m "Initial fleet configuration"
git -C "$work/checkout" push -q origin main
repo="file://$work/fleet.git"

run "$bin/reconciler" validate --repo "$repo"
run "$bin/reconciler" plan --repo "$repo" --release apps/podinfo=6.5.0 \
  --release apps/podinfo=6.6.0-rc.1 --release apps/podinfo=7.0.0 --release apps/frontend=1.4.3
run "$bin/reconciler" release apps/podinfo 6.5.0 --repo "$repo" --push
run "$bin/reconciler" revert apps/podinfo --repo "$repo" --reason "error rate above 5%" --push
run "$bin/reconciler" plan --repo "$repo" --release apps/podinfo=6.5.0 -o json
run "$bin/reconciler" history --repo "$repo"
step git log
git -C "$work/fleet.git" log --format='%h %s%n%(trailers:only,unfold)' main
