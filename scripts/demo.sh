#!/usr/bin/env bash
# The walk-through: a real 3-host GlusterFS cluster on this machine, a replica-3 volume
# mounted here, a file written and read back, and the cluster's health. The lab is left
# running; the last lines say how to take it down.
set -euo pipefail
cd "$(dirname "$0")/.."
by=$PWD/target/debug/brickyard
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

if $by lab status >/dev/null 2>&1; then
    echo "A lab named 'lab' exists already; taking it down first."
    $by lab down
fi

step $by config validate examples/four-hosts
step $by lab up
eval "$($by lab env)"
echo "BRICKYARD_STORE=$BRICKYARD_STORE"
step $by node status

# The hosts' addresses, from the configs in the lab's store.
mapfile -t ips < <($by config list --output json |
    python3 -c 'import json,sys; [print(h["ip_address"].split("/")[0]) for h in json.load(sys.stdin)]')
bricks=()
for ip in "${ips[@]}"; do bricks+=("$ip:/gluster/brick1/demo"); done
step $by lab exec 1 -- gluster volume create demo replica 3 "${bricks[@]}"
step $by lab exec 1 -- gluster volume start demo

mnt=/mnt/brickyard-demo
mkdir -p "$mnt"
step $by lab mount demo "$mnt"
echo "written through FUSE on $(hostname) at $(date -u +%FT%TZ)" > "$mnt/hello.txt"
step cat "$mnt/hello.txt"
step $by lab exec 2 -- cat /gluster/brick1/demo/hello.txt
step $by status

cat <<MSG

The lab is still running: 3 hosts, volume 'demo' mounted at $mnt.
  eval "\$($by lab env)"                       # point brickyard at the lab's store
  $by lab exec 1 -- gluster volume info      # run gluster on a host
  $by lab down                               # remove everything the lab made
MSG
