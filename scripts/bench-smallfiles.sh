#!/usr/bin/env bash
# Benchmark: small-file work through FUSE on a replica 3 volume, with gluster's options
# that claim to help it, one candidate per volume, to choose what the `small-files`
# profile sets.
#
#   scripts/bench-smallfiles.sh        (run as root on an idle machine)
#   FILES=1000 RUNS=3                   (the defaults)
#
# On a 3-host lab named `benchs`: one replica 3 volume per candidate (made with
# `brickyard volume create --profile default`, then the candidate's options set with
# `gluster volume set` inside host 1), each mounted on this machine (FUSE). Each run, in a
# fresh directory: create FILES files of 1 KiB one after another; stat each; stat FILES
# names that do not exist (negative lookups, what every create starts with); list the
# directory three times. RUNS runs per candidate, candidates taken in turns; the medians go
# to stdout as Markdown rows. The lab is taken down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_binary
files=${FILES:-1000}
runs=${RUNS:-3}
name=benchs
out=$(mktemp -d /tmp/bench-smallfiles.XXXXXX)
mnt=$out/mnt

trap 'bench_cleanup $name "$mnt"' EXIT

# The candidates: a name and the options set on top of the `default` profile.
metadata_cache="features.cache-invalidation=on features.cache-invalidation-timeout=600 performance.stat-prefetch=on performance.cache-invalidation=on performance.md-cache-timeout=600 network.inode-lru-limit=200000"
nl_cache="features.cache-invalidation=on features.cache-invalidation-timeout=600 performance.nl-cache=on performance.nl-cache-timeout=600 network.inode-lru-limit=200000"
listing="performance.readdir-ahead=on performance.parallel-readdir=on cluster.lookup-optimize=on"
threads="client.event-threads=4 server.event-threads=4"
declare -A options=(
    [default]=""
    [metadata]="$metadata_cache"
    [nlcache]="$nl_cache"
    [listing]="$listing"
    [threads]="$threads"
    [clientio]="performance.client-io-threads=on"
    [smallfiles]="$metadata_cache $listing $threads"
    [all]="$metadata_cache performance.nl-cache=on performance.nl-cache-timeout=600 $listing $threads"
    [plain]=""
)
order=(default metadata nlcache listing threads clientio smallfiles all plain)
# `plain`: no options, and no replication (one brick): what the three copies cost.
declare -A layout=([plain]="--distribute 1")

# One run in directory $1: prints "create stat negative list" rates (per second).
workload() {
    python3 - "$1" "$files" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.mkdir(d)
data = b"\x07" * 1024
def rate(count, f):
    t0 = time.monotonic()
    f()
    return count / (time.monotonic() - t0)
def create():
    for i in range(n):
        with open(os.path.join(d, f"f{i}"), "wb") as fh:
            fh.write(data)
def stat():
    for i in range(n):
        os.stat(os.path.join(d, f"f{i}"))
def negative():
    for i in range(n):
        try:
            os.stat(os.path.join(d, f"missing{i}"))
        except FileNotFoundError:
            pass
def listing():
    for _ in range(3):
        assert len(os.listdir(d)) == n
print(f"{rate(n, create):.0f} {rate(n, stat):.0f} {rate(n, negative):.0f} {rate(3 * n, listing):.0f}")
PY
}

bench_machine
$by lab down --name $name >/dev/null 2>&1 || true
$by lab up --name $name --hosts 3 --wait 600 >"$out/lab-up.log" 2>&1
eval "$($by lab env --name $name)"
export BRICKYARD_STORE
for c in "${order[@]}"; do
    # shellcheck disable=SC2086 # the layout is several words
    $by volume create "s$c" ${layout[$c]:-} --timeout 120 >>"$out/create.log" 2>&1
    for kv in ${options[$c]}; do
        $by lab exec --name $name 1 -- gluster --mode=script volume set "s$c" "${kv%%=*}" "${kv#*=}" >>"$out/create.log"
    done
    $by lab mount --name $name "s$c" "$mnt/$c" >/dev/null
done
for r in $(seq 1 "$runs"); do
    for c in "${order[@]}"; do
        echo "$c $(workload "$mnt/$c/run$r")" >>"$out/runs.txt"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); each run's figures: $out/runs.txt"
echo
echo "| candidate | create/s | stat/s | negative lookup/s | listed entries/s |"
echo "|---|---|---|---|---|"
for c in "${order[@]}"; do
    python3 - "$out/runs.txt" "$c" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.split()[0] == sys.argv[2]]
cols = list(zip(*[[float(x) for x in r[1:]] for r in rows]))
cells = [f"{statistics.median(c):.0f} ({', '.join(f'{x:.0f}' for x in c)})" for c in cols]
print(f"| {sys.argv[2]} | " + " | ".join(cells) + " |")
PY
done
echo
echo "Medians, each run's figure in brackets. Options on top of \`default\` (network.ping-timeout=10, performance.enable-least-priority=off):"
for c in "${order[@]}"; do
    echo "- $c: ${layout[$c]:+${layout[$c]}, }${options[$c]:-none}"
done
