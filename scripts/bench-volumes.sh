#!/usr/bin/env bash
# Benchmark: volume create+start latency through brickyard next to the raw gluster floor on
# the same kind of lab, from the 1st to the 100th volume; and the small-file create rate of
# each profile.
#
#   scripts/bench-volumes.sh          (run as root on an idle machine)
#   BRICKYARD=target/release/brickyard scripts/bench-volumes.sh
#   VOLUMES=100 FILES=1000 RUNS=3 BUDGET=1500   (the defaults)
#
# On a 3-host lab named `benchv` (replica 3 throughout):
# - small files: a `default` and a `small-files` volume made with `brickyard volume create`,
#   mounted on this machine (FUSE, `brickyard lab mount`); FILES files of 1 KiB created one
#   after another in a fresh directory, RUNS runs per volume taken in turns; median files/s.
#   Both volumes are deleted afterwards.
# - brickyard: VOLUMES volumes v1, v2, ... created one after another with
#   `brickyard volume create vN`, each timed from the command's start to its exit (the
#   record written, the agents creating and starting it, the CLI seeing it started).
# - floor: a fresh lab of the same shape without agents (hosts prepared with
#   `brickyard host prepare`, glusterd started by hand and bound, peers probed), then
#   VOLUMES raw `gluster volume create rN replica 3 ...` + `gluster volume start rN` back to
#   back in one shell inside host 1, each pair timed there (no `lab exec` cost inside);
#   then OPTIONED (default 50) more with the one `gluster volume set` brickyard adds to each
#   create between the two (its ownership marker and the profile's options), timed the same.
# Results go to stdout as Markdown rows; the per-volume times to a file named at the end.
# Without brick multiplexing every brick is a process of its own (about 11 MiB each): keep
# VOLUMES to what the machine's memory holds twice over (the floor lab adds OPTIONED).
# The lab is taken down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
debug=$PWD/target/debug/brickyard
by=${BRICKYARD:-$debug}
case $by in /*) ;; *) by=$PWD/$by ;; esac
note=
if [ ! -x "$by" ]; then
    note=" ($by not found; measured the debug build instead)"
    by=$debug
fi
[ -x "$by" ] || { echo "build first: cargo build" >&2; exit 1; }
case $by in */release/*) build=release ;; *) build=debug ;; esac
volumes=${VOLUMES:-100}
files=${FILES:-1000}
runs=${RUNS:-3}
budget=${BUDGET:-1500}   # at most this many seconds for the brickyard creates
optioned=${OPTIONED:-50}
name=benchv
out=$(mktemp -d /tmp/bench-volumes.XXXXXX)
mnt=$out/mnt

. scripts/lib.sh
trap 'bench_cleanup $name "$mnt"' EXIT

now() { date +%s.%N; }
lab_json() { $by lab status --name $name --output json; }

# Prints "v1 v10 vN median p90 ok" from a file of seconds, one per line (a failure as "-").
stats() {
    python3 - "$1" <<'PY'
import math, sys
raw = [l.strip() for l in open(sys.argv[1]) if l.strip()]
ok = sorted(float(x) for x in raw if x != "-")
def at(i):
    return f"{float(raw[i - 1]):.2f}" if len(raw) >= i and raw[i - 1] != "-" else "-"
med = f"{ok[(len(ok) - 1) // 2] if len(ok) % 2 else (ok[len(ok) // 2 - 1] + ok[len(ok) // 2]) / 2:.2f}" if ok else "-"
p90 = f"{ok[math.ceil(0.9 * len(ok)) - 1]:.2f}" if ok else "-"
print(at(1), at(10), at(len(raw)), med, p90, f"{len(ok)}/{len(raw)}")
PY
}

# Creates $files files of 1 KiB in a new directory $1 and prints files/s.
small_files() {
    python3 - "$1" "$files" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.mkdir(d)
data = b"\x07" * 1024
t0 = time.monotonic()
for i in range(n):
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(data)
print(f"{n / (time.monotonic() - t0):.0f}")
PY
}

median() { python3 -c 'import statistics, sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.0f}")' "$@"; }

echo "build: $build, $by$note"
bench_machine
echo

# --- the lab with agents: small files, then the brickyard creates ---------------------------
$by lab down --name $name >/dev/null 2>&1 || true
$by lab up --name $name --hosts 3 --wait 600 >"$out/lab-up.log" 2>&1
eval "$($by lab env --name $name)"
export BRICKYARD_STORE

declare -A rate
for p in default small-files; do
    $by volume create "s${p//-/}" --profile "$p" --timeout 120 >>"$out/create.log" 2>&1
    $by lab mount --name $name "s${p//-/}" "$mnt/$p" >/dev/null
done
for r in $(seq 1 "$runs"); do
    for p in default small-files; do
        rate[$p]="${rate[$p]:-} $(small_files "$mnt/$p/run$r")"
    done
done
for p in default small-files; do
    $by lab umount --name $name "$mnt/$p" >/dev/null
    $by volume delete "s${p//-/}" --force --timeout 120 >>"$out/create.log" 2>&1
done

: >"$out/brickyard.txt"
t_start=$(now)
for i in $(seq 1 "$volumes"); do
    if python3 -c "import sys; sys.exit(0 if $(now) - $t_start > $budget else 1)"; then
        echo "budget of ${budget}s spent after $((i - 1)) volumes" >&2
        break
    fi
    t0=$(now)
    if $by volume create "v$i" --timeout 120 >>"$out/create.log" 2>&1; then
        python3 -c "print(f'{$(now) - $t0:.3f}')" >>"$out/brickyard.txt"
    else
        echo "-" >>"$out/brickyard.txt"
    fi
done
by_count=$(wc -l <"$out/brickyard.txt")
gluster_count=$($by lab exec --name $name 1 -- gluster volume list 2>/dev/null | grep -c '^v' || true)
cp -r /var/lib/brickyard/lab/$name/hosts "$out/agent-logs" 2>/dev/null || true
$by lab down --name $name >/dev/null

# --- the floor: a fresh lab, no agents, raw gluster ------------------------------------------
$by lab up --name $name --hosts 3 --no-agents >"$out/lab-up-floor.log" 2>&1
store=$(lab_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["store_url"])')
mapfile -t hosts < <(lab_json | python3 -c 'import json,sys; [print(h["host_name"], h["ip"]) for h in json.load(sys.stdin)["hosts"]]')
ips=()
for i in 1 2 3; do
    read -r host ip <<<"${hosts[$((i - 1))]}"
    ips+=("$ip")
    $by lab exec --name $name "$i" -- "$by" --store "$store" host prepare --host "$host" --interface eth0 >>"$out/prepare.log" 2>&1
    $by lab exec --name $name "$i" -- sh -c "sed 's/^end-volume/    option transport.socket.bind-address $ip\nend-volume/' /etc/glusterfs/glusterd.vol > /tmp/v && cat /tmp/v > /etc/glusterfs/glusterd.vol && glusterd -p /run/glusterd.pid"
done
for i in 1 2 3; do
    for _ in $(seq 1 300); do
        $by lab exec --name $name "$i" -- gluster pool list >/dev/null 2>&1 && break
        sleep 0.1
    done
done
for ip in "${ips[@]:1}"; do
    $by lab exec --name $name 1 -- gluster peer probe "$ip" >/dev/null
done
for i in 1 2 3; do
    for _ in $(seq 1 300); do
        [ "$($by lab exec --name $name "$i" -- gluster pool list 2>/dev/null | grep -c Connected)" = 3 ] && break
        sleep 0.1
    done
done
# Creates and starts volumes PREFIX1..PREFIX$2 back to back in one shell inside host 1, each
# timed there; with $3 = set, each also gets brickyard's one `volume set` in between.
# Prints the seconds per volume, "-" for a failure.
raw_creates() {
    local set=:
    [ "${3:-}" = set ] && set='gluster --mode=script volume set $v user.brickyard.id $v-0 network.ping-timeout 10 >/dev/null'
    $by lab exec --name $name 1 -- sh -c '
    i=1
    while [ $i -le '"$2"' ]; do
        v='"$1"'$i
        t0=$(date +%s.%N)
        if gluster --mode=script volume create $v replica 3 '"${ips[0]}"':/gluster/brick1/$v '"${ips[1]}"':/gluster/brick1/$v '"${ips[2]}"':/gluster/brick1/$v >/dev/null &&
           '"$set"' &&
           gluster --mode=script volume start $v >/dev/null; then
            echo "$t0 $(date +%s.%N)"
        else
            echo "- -"
        fi
        i=$((i + 1))
    done' 2>>"$out/floor.err" | awk '{ if ($1 == "-") print "-"; else printf "%.3f\n", $2 - $1 }'
}
raw_creates r "$volumes" >"$out/floor.txt"
raw_creates o "$optioned" set >"$out/optioned.txt"
$by lab down --name $name >/dev/null

# --- results ---------------------------------------------------------------------------------
read -r b1 b10 bn bmed bp90 bok < <(stats "$out/brickyard.txt")
read -r f1 f10 fn fmed fp90 fok < <(stats "$out/floor.txt")
read -r o1 o10 on omed op90 ook < <(stats "$out/optioned.txt")
echo "| create + start (replica 3) | volume 1 (s) | volume 10 (s) | volume $volumes (s) | median (s) | p90 (s) | succeeded |"
echo "|---|---|---|---|---|---|---|"
echo "| brickyard \`volume create\` (waits for the agents) | $b1 | $b10 | $bn | $bmed | $bp90 | $bok |"
echo "| floor: raw \`gluster volume create\` + \`start\` in host 1 | $f1 | $f10 | $fn | $fmed | $fp90 | $fok |"
echo "| floor with brickyard's options: create + one \`volume set\` + start, $optioned more (volume $optioned in the third column) | $o1 | $o10 | $on | $omed | $op90 | $ook |"
echo
echo "| profile (replica 3) | files/s, $files files of 1 KiB, runs | median |"
echo "|---|---|---|"
for p in default small-files; do
    echo "| \`$p\` | $(tr ' ' '\n' <<<"${rate[$p]}" | grep . | paste -sd, | sed 's/,/, /g') | $(median ${rate[$p]}) |"
done
echo
echo "brickyard created $by_count volumes ($gluster_count in gluster at the end); per-volume times: $out/brickyard.txt, $out/floor.txt; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
