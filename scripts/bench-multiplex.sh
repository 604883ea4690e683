#!/usr/bin/env bash
# Benchmark: memory and processes per volume per host, with gluster's brick multiplexing off
# and on (`brickyard config cluster --brick-multiplex`, gluster's `cluster.brick-multiplex`).
#
#   scripts/bench-multiplex.sh          (run as root on an idle machine)
#   VOLUMES=40 BRICKYARD=target/release/brickyard scripts/bench-multiplex.sh
#
# On a 3-host lab named `benchm` with agents: for each setting, VOLUMES replica-3 volumes
# m1, m2, ... created one after another with `brickyard volume create` (each timed), then
# host 1's gluster processes are counted and measured (the sum of their resident set, RSS,
# and of their proportional share of it, PSS, which counts a page shared by N processes as
# 1/N in each); then the volumes are deleted. The same is measured before the first volume.
# Results go to stdout as Markdown rows. The lab is taken down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_binary
volumes=${VOLUMES:-40}
name=benchm
out=$(mktemp -d /tmp/bench-multiplex.XXXXXX)

cleanup() { $by lab down --name $name >/dev/null 2>&1 || true; }
trap cleanup EXIT

now() { date +%s.%N; }

# Prints "processes rss_kib pss_kib" for the glusterfsd processes of host 1, then the same
# for its glusterd.
measure() {
    gluster_memory $name 1 | awk '$1 == "glusterfsd" {f = $2 " " $3 " " $4} $1 == "glusterd" {d = $2 " " $3 " " $4} END {print f, d}'
}

echo "build: $build, $by"
bench_machine
echo

$by lab down --name $name >/dev/null 2>&1 || true
$by lab up --name $name --hosts 3 --wait 600 >"$out/lab-up.log" 2>&1
eval "$($by lab env --name $name)"
export BRICKYARD_STORE

read -r _ _ _ d0 drss0 dpss0 <<<"$(measure)"
echo "| brick multiplexing | volumes | glusterfsd processes on host 1 | their RSS | their PSS | PSS per volume | glusterd RSS | create+start median |"
echo "|---|---|---|---|---|---|---|---|"
echo "| (no volumes) | 0 | 0 | 0 MiB | 0 MiB | - | $((drss0 / 1024)) MiB | - |"
for mode in off on; do
    $by config cluster --brick-multiplex "$mode" >>"$out/set.log" 2>&1
    # The pool lock's holder applies it; wait (bounded) until gluster says so.
    for _ in $(seq 1 60); do
        $by lab exec --name $name 1 -- gluster volume get all cluster.brick-multiplex 2>/dev/null |
            grep -q "^cluster.brick-multiplex *$mode" && break
        sleep 1
    done
    : >"$out/times-$mode.txt"
    for i in $(seq 1 "$volumes"); do
        t0=$(now)
        $by volume create "m$i" --timeout 120 >>"$out/create-$mode.log" 2>&1
        python3 -c "print(f'{$(now) - $t0:.3f}')" >>"$out/times-$mode.txt"
    done
    sleep 5
    read -r n rss pss _ drss _ <<<"$(measure)"
    med=$(python3 -c 'import statistics, sys; print(f"{statistics.median(float(l) for l in open(sys.argv[1])):.2f}")' "$out/times-$mode.txt")
    per=$(python3 -c "print(f'{$pss / 1024 / $volumes:.1f}')")
    echo "| $mode | $volumes | $n | $((rss / 1024)) MiB | $((pss / 1024)) MiB | $per MiB | $((drss / 1024)) MiB | ${med} s |"
    for i in $(seq 1 "$volumes"); do
        $by volume delete "m$i" --force --timeout 120 >>"$out/delete-$mode.log" 2>&1
    done
done
echo
echo "logs: $out"
