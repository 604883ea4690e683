#!/usr/bin/env bash
# The walk-through: a real 3-host GlusterFS cluster on this machine, a replica-3 volume
# mounted here, a file written and read back, and the cluster's health. The lab is left
# running; the last lines say how to take it down.
set -euo pipefail
cd "$(dirname "$0")/.."
by=$PWD/target/debug/brickyard
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

# The lab's name: BRICKYARD_LAB, else "lab" (every `lab` command reads the variable too).
lab=${BRICKYARD_LAB:-lab}
if $by lab status >/dev/null 2>&1; then
    echo "A lab named '$lab' exists already; taking it down first."
    $by lab down
fi

step $by config validate examples/four-hosts
step $by lab up
eval "$($by lab env)"
echo "BRICKYARD_STORE=$BRICKYARD_STORE"
step $by node status

# brickyard places the bricks (one per host), the agents create and start the volume.
step $by volume create demo --replica 3
step $by lab exec 1 -- gluster volume info demo

mnt=/mnt/brickyard-demo
mkdir -p "$mnt"
step $by lab mount demo "$mnt"
echo "written through FUSE on $(hostname) at $(date -u +%FT%TZ)" > "$mnt/hello.txt"
step cat "$mnt/hello.txt"
step $by lab exec 2 -- cat /gluster/brick1/demo/hello.txt
step $by status

n=""
[[ $lab == lab ]] || n=" --name $lab"
cat <<MSG

The lab '$lab' is still running: 3 hosts, volume 'demo' mounted at $mnt.
  eval "\$($by lab env$n)"    # point brickyard at the lab's store
  $by volume list            # the volumes, as the agents report them
  $by lab exec$n 1 -- gluster volume info    # run gluster on a host
  $by lab down$n             # remove everything the lab made
MSG
