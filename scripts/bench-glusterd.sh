#!/usr/bin/env bash
# Benchmark: what glusterd's own start costs, and how much of it is its geo-replication
# set-up.
#
#   scripts/bench-glusterd.sh          (run as root on an idle machine)
#
# On a 1-host lab named `benchg` without agents and with `gsyncd` left visible (`lab up
# --geo-replication`; the host prepared with `brickyard host prepare`, glusterd bound to
# its address): glusterd started RUNS times in the foreground
# from one shell inside the host, each timed from its start to `gluster pool list`
# answering, then stopped. Once as installed, once with gluster's geo-replication helper
# (`gsyncd`) absent from the host's view of the file system (an overlay with a whiteout,
# in the host's own mount namespace; the package is not touched). Then the first start's
# child processes, from strace. Results go to stdout. The lab is taken down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_binary
runs=${RUNS:-3}
name=benchg
libexec=/usr/lib/x86_64-linux-gnu/glusterfs
trap '$by lab down --name $name >/dev/null 2>&1 || true' EXIT
in_host() { $by lab exec --name $name 1 -- "$@"; }

bench_machine
$by lab down --name $name >/dev/null 2>&1 || true
$by lab up --name $name --hosts 1 --no-agents --geo-replication >/dev/null 2>&1
json=$($by lab status --name $name --output json)
store=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["store_url"])')
read -r host ip < <(echo "$json" | python3 -c 'import json,sys; h=json.load(sys.stdin)["hosts"][0]; print(h["host_name"], h["ip"])')
in_host "$by" --store "$store" host prepare --host "$host" --interface eth0 >/dev/null
in_host sh -c "sed 's/^end-volume/    option transport.socket.bind-address $ip\nend-volume/' /etc/glusterfs/glusterd.vol > /run/v && cat /run/v > /etc/glusterfs/glusterd.vol"

# Starts glusterd $runs times; prints each time to answering in ms.
timed_starts() {
    in_host sh -c '
for r in $(seq 1 '"$runs"'); do
  t0=$(date +%s%N)
  glusterd -N -p /run/glusterd.pid >/dev/null 2>&1 &
  pid=$!
  until gluster pool list >/dev/null 2>&1; do sleep 0.02; done
  t1=$(date +%s%N)
  kill $pid; wait $pid 2>/dev/null || true
  printf "%s " $(( (t1 - t0) / 1000000 ))
  sleep 1
done'
}

in_host sh -c "strace -f -tt -e trace=execve -o /run/gd.trace glusterd -N -p /run/glusterd.pid >/dev/null 2>&1 &
until gluster pool list >/dev/null 2>&1; do sleep 0.02; done; kill \$(cat /run/glusterd.pid); sleep 1"
echo "first start: $(in_host grep -c 'execve(\"/usr/bin/python3' /run/gd.trace) python3 runs of gsyncd (geo-replication's configuration), one after another"
echo "as installed, ms to answering: $(timed_starts)"
in_host sh -c "mkdir -p /run/ov/up /run/ov/work && mknod /run/ov/up/gsyncd c 0 0 && mount -t overlay overlay -o lowerdir=$libexec,upperdir=/run/ov/up,workdir=/run/ov/work $libexec"
echo "without gsyncd, ms to answering: $(timed_starts)"
in_host umount "$libexec"
