#!/usr/bin/env bash
# A short walk-through: validate the example cluster, load it into an embedded store,
# list it and show one host exactly as it was loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
by=./target/debug/brickyard
store_dir=$(mktemp -d /tmp/brickyard-demo.XXXXXX)
export BRICKYARD_STORE="file://$store_dir"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step $by config validate examples/four-hosts
step $by config load examples/four-hosts
step $by config list
step $by config get atomic-1
echo
echo "The store is in $store_dir (BRICKYARD_STORE=$BRICKYARD_STORE)."
echo "A broken file is refused with one line per mistake, and nothing is written:"
bad=$(mktemp /tmp/brickyard-demo-bad.XXXXXX.json)
printf '{"HostName":"atomic-5","GlusterNodeName":"gluster-5","IPAddress":"10.1.1.5","BrickDevice":"sdb","PeerList":[{"IP":"10.1.1.1"}]}\n' > "$bad"
step $by config load "$bad" || true
rm -f "$bad"
