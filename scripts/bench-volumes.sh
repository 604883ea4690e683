#!/usr/bin/env bash
# Benchmark: volume create+start latency through brickyard next to the raw gluster floor on
# the same kind of lab, from the 1st to the 100th volume; and the small-file create rate of
# each profile.
#
#   scripts/bench-volumes.sh          (run as root on an idle machine)
#   BRICKYARD=target/release/brickyard scripts/bench-volumes.sh
#   VOLUMES=100 FILES=1000 RUNS=3 BUDGET=1500 MULTIPLEX=off ANSWER_EVERY=1 SETTLE=10
#       PROBE_EVERY=0 PROBES=5 OPTIONED=50
#       (the defaults; FLOOR unset: the floor makes as many volumes as brickyard did)
#   VOLUMES=1000 BUDGET=5400 MULTIPLEX=on FILES=0 FLOOR=0 OPTIONED=0 PROBE_EVERY=100 \
#       SETTLE=120 BRICKYARD=target/release/brickyard scripts/bench-volumes.sh
#       (the thousand-volume run: 35 minutes on 2 cores, docs/benchmarks.md)
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
#   as many raw `gluster volume create rN replica 3 ...` + `gluster volume start rN` as
#   brickyard made (VOLUMES, or fewer when BUDGET ran out first; at most FLOOR, and then
#   brickyard's first FLOOR get a row of their own to compare with), back to back in one
#   shell inside host 1, each pair timed there (no `lab exec` cost inside);
#   then OPTIONED (default 50) more with the one `gluster volume set` brickyard adds to each
#   create between the two (its ownership marker and the profile's options), timed the same.
# - probes: with PROBE_EVERY=N, after brickyard's 20th volume and every Nth, the floor in
#   the same lab at that size: PROBES raw create + start, then PROBES with brickyard's one
#   `volume set` in between, back to back in host 1 like the floor's (volumes pNrK, pNoK;
#   brickyard leaves them alone as unmanaged). The agents run meanwhile, idle.
#   FLOOR=0 OPTIONED=0 leave the separate floor lab out.
# - idle: SETTLE seconds after the creates, each node agent's resident memory and its CPU over 60 s,
#   on its own and with the gluster commands it ran (its waited-for children), and how busy
#   the whole machine was meanwhile.
# - answering: every ANSWER_EVERY-th volume (and the last) mounted on this machine in turn,
#   one file written and read back through it, unmounted.
# Results go to stdout as Markdown rows; the per-volume times to a file named at the end.
# MULTIPLEX=on turns gluster's brick multiplexing on in both labs before the first volume
# (`brickyard config cluster --brick-multiplex on`; `volume set all cluster.brick-multiplex
# on` in the floor's). Without it every brick is a process of its own (about 11 MiB each):
# keep VOLUMES to what the machine's memory holds twice over (the floor lab adds OPTIONED).
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
multiplex=${MULTIPLEX:-off}
answer_every=${ANSWER_EVERY:-1}
floor=${FLOOR:-}
settle=${SETTLE:-10}
probe_every=${PROBE_EVERY:-0}
probes=${PROBES:-5}
case $floor in *[!0-9]*) echo "FLOOR is a number of volumes, not '$floor'" >&2; exit 2 ;; esac
case $settle in '' | *[!0-9]*) echo "SETTLE is a number of seconds, not '$settle'" >&2; exit 2 ;; esac
for v in probe_every probes optioned; do
    case ${!v} in '' | *[!0-9]*) echo "${v^^} is a number, not '${!v}'" >&2; exit 2 ;; esac
done
case $multiplex in on | off) ;; *) echo "MULTIPLEX is on or off, not '$multiplex'" >&2; exit 2 ;; esac
name=benchv
out=$(mktemp -d /tmp/bench-volumes.XXXXXX)
mnt=$out/mnt

. scripts/lib.sh
trap 'bench_cleanup $name "$mnt"' EXIT

now() { date +%s.%N; }
lab_json() { $by lab status --name $name --output json; }

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

# Creates and starts volumes PREFIX1..PREFIX$2 back to back in one shell inside host 1, each
# timed there; with $3 = set, each also gets brickyard's one `volume set` in between.
# Prints the seconds per volume, "-" for a failure.
raw_creates() {
    local set=:
    [ "${3:-}" = set ] && set='gluster --mode=script volume set $v user.brickyard.id $v-0 network.ping-timeout 10 performance.enable-least-priority off storage.health-check-interval 0 cluster.shd-max-threads 4 >/dev/null'
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
# Fills `ips` with the lab's host addresses, host 1 first.
lab_ips() {
    mapfile -t hosts < <(lab_json | python3 -c 'import json,sys; [print(h["host_name"], h["ip"]) for h in json.load(sys.stdin)["hosts"]]')
    ips=()
    local h
    for h in "${hosts[@]}"; do ips+=("${h#* }"); done
}
mean() { python3 -c 'import sys; xs = [float(l) for l in sys.stdin if l.strip() not in ("", "-")]; print(f"{sum(xs) / len(xs):.2f}" if xs else "-")'; }

median() { python3 -c 'import statistics, sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.0f}")' "$@"; }

echo "build: $build, $by$note"
bench_machine
echo

# --- the lab with agents: small files, then the brickyard creates ---------------------------
$by lab down --name $name >/dev/null 2>&1 || true
$by lab up --name $name --hosts 3 --wait 600 >"$out/lab-up.log" 2>&1
eval "$($by lab env --name $name)"
export BRICKYARD_STORE

if [ "$multiplex" = on ]; then
    $by config cluster --brick-multiplex on >/dev/null
    for _ in $(seq 1 600); do
        $by lab exec --name $name 1 -- gluster volume get all cluster.brick-multiplex 2>/dev/null | grep -q 'brick-multiplex *on' && break
        sleep 0.1
    done
fi

declare -A rate
profiles=(default small-files)
[ "$files" -gt 0 ] || profiles=()
for p in "${profiles[@]}"; do
    $by volume create "s${p//-/}" --profile "$p" --timeout 120 >>"$out/create.log" 2>&1
    $by lab mount --name $name "s${p//-/}" "$mnt/$p" >/dev/null
done
for r in $(seq 1 "$runs"); do
    for p in "${profiles[@]}"; do
        rate[$p]="${rate[$p]:-} $(small_files "$mnt/$p/run$r")"
    done
done
for p in "${profiles[@]}"; do
    $by lab umount --name $name "$mnt/$p" >/dev/null
    $by volume delete "s${p//-/}" --force --timeout 120 >>"$out/create.log" 2>&1
done

: >"$out/brickyard.txt"
: >"$out/probes.txt"
[ "$probe_every" -gt 0 ] && lab_ips
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
    if [ "$probe_every" -gt 0 ] && { [ "$i" = 20 ] || [ $((i % probe_every)) = 0 ]; }; then
        raw=$(raw_creates "p${i}r" "$probes" | mean)
        set_=$(raw_creates "p${i}o" "$probes" set | mean)
        echo "$i $raw $set_ $(tail -n 10 "$out/brickyard.txt" | mean)" >>"$out/probes.txt"
    fi
done
by_count=$(wc -l <"$out/brickyard.txt")
gluster_count=$($by lab exec --name $name 1 -- gluster volume list 2>/dev/null | grep -c '^v' || true)
started_count=$($by volume list --output json | python3 -c 'import json, sys; print(sum(1 for v in json.load(sys.stdin)["volumes"] if (v.get("status") or {}).get("phase") == "started"))' 2>/dev/null || echo "could not ask")

# Memory of host 1's gluster processes.
host1_memory=$(gluster_memory $name 1 | awk '$2 > 0 {printf "%s%s ×%d: RSS %.0f MiB, PSS %.0f MiB", sep, $1, $2, $3 / 1024, $4 / 1024; sep = "; "}')

# Idle: the agents' memory and CPU over 60 s once nothing is asked of them.
sleep "$settle"
idle_window=60
machine_busy=$(agents_idle $name $idle_window "$out/idle.txt")

# Answering: each chosen volume mounted, a file written and read back, unmounted.
: >"$out/answer.txt"
t_answer=$(now)
for i in $(seq 1 "$by_count"); do
    [ $((i % answer_every)) = 0 ] || [ "$i" = "$by_count" ] || continue
    m=$mnt/answer
    if $by lab mount --name $name "v$i" "$m" >/dev/null 2>>"$out/answer.err" &&
        echo "v$i" >"$m/probe" && [ "$(cat "$m/probe")" = "v$i" ]; then
        echo "v$i ok" >>"$out/answer.txt"
    else
        echo "v$i failed" >>"$out/answer.txt"
    fi
    mountpoint -q "$m" && $by lab umount --name $name "$m" >/dev/null 2>>"$out/answer.err"
done
answer_time=$(python3 -c "print(f'{$(now) - $t_answer:.0f}')")
answered=$(grep -c ' ok$' "$out/answer.txt" || true)
which="every one"
[ "$answer_every" -gt 1 ] && which="every ${answer_every}th and the last"
asked=$(wc -l <"$out/answer.txt")
cp -r /var/lib/brickyard/lab/$name/hosts "$out/agent-logs" 2>/dev/null || true
$by lab down --name $name >/dev/null

# --- the floor: a fresh lab, no agents, raw gluster ------------------------------------------
floor_count=$by_count   # as many as brickyard made within its budget, at most FLOOR
[ -n "$floor" ] && [ "$floor" -lt "$by_count" ] && floor_count=$floor
: >"$out/floor.txt"
: >"$out/optioned.txt"
if [ "$floor_count" -gt 0 ] || [ "$optioned" -gt 0 ]; then
$by lab up --name $name --hosts 3 --no-agents >"$out/lab-up-floor.log" 2>&1
store=$(lab_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["store_url"])')
lab_ips
for i in 1 2 3; do
    read -r host ip <<<"${hosts[$((i - 1))]}"
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
[ "$multiplex" = on ] && $by lab exec --name $name 1 -- gluster --mode=script volume set all cluster.brick-multiplex on >/dev/null
for i in 1 2 3; do
    for _ in $(seq 1 300); do
        [ "$($by lab exec --name $name "$i" -- gluster pool list 2>/dev/null | grep -c Connected)" = 3 ] && break
        sleep 0.1
    done
done
raw_creates r "$floor_count" >"$out/floor.txt"
raw_creates o "$optioned" set >"$out/optioned.txt"
$by lab down --name $name >/dev/null
fi

# --- results ---------------------------------------------------------------------------------
read -r b1 b10 bn bmed bp90 bok bm11 bmlast < <(stats "$out/brickyard.txt")
read -r f1 f10 fn fmed fp90 fok fm11 fmlast < <(stats "$out/floor.txt")
read -r o1 o10 on omed op90 ook om11 omlast < <(stats "$out/optioned.txt")
echo "| create + start (replica 3) | volume 1 (s) | volume 10 (s) | volume $by_count (s) | median (s) | p90 (s) | mean of 11–20 (s) | mean of the last 10 (s) | succeeded |"
echo "|---|---|---|---|---|---|---|---|---|"
echo "| brickyard \`volume create\` (waits for the agents) | $b1 | $b10 | $bn | $bmed | $bp90 | $bm11 | $bmlast | $bok |"
if [ "$floor_count" -gt 0 ] && [ "$floor_count" -lt "$by_count" ]; then
    read -r c1 c10 cn cmed cp90 cok cm11 cmlast < <(stats <(head -n "$floor_count" "$out/brickyard.txt"))
    echo "| brickyard, its first $floor_count (volume $floor_count in the third column) | $c1 | $c10 | $cn | $cmed | $cp90 | $cm11 | $cmlast | $cok |"
fi
[ "$floor_count" -gt 0 ] && echo "| floor: raw \`gluster volume create\` + \`start\` in host 1 | $f1 | $f10 | $fn | $fmed | $fp90 | $fm11 | $fmlast | $fok |"
[ "$optioned" -gt 0 ] && echo "| floor with brickyard's options: create + one \`volume set\` + start, $optioned more (volume $optioned in the third column) | $o1 | $o10 | $on | $omed | $op90 | $om11 | $omlast | $ook |"
echo
if [ -s "$out/probes.txt" ]; then
    echo "| in the same lab, after volume | raw create + start, mean of $probes (s) | with brickyard's one \`volume set\`, mean of $probes (s) | brickyard, mean of its last 10 (s) |"
    echo "|---|---|---|---|"
    awk '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' "$out/probes.txt"
    echo
fi
if [ "${#profiles[@]}" -gt 0 ]; then
    echo "| profile (replica 3) | files/s, $files files of 1 KiB, runs | median |"
    echo "|---|---|---|"
    for p in "${profiles[@]}"; do
        echo "| \`$p\` | $(tr ' ' '\n' <<<"${rate[$p]}" | grep . | paste -sd, | sed 's/,/, /g') | $(median ${rate[$p]}) |"
    done
    echo
fi
echo "| node agent, idle after $by_count volumes (pid) | RSS (MiB) | CPU, % of a core | CPU with the gluster commands it ran, % of a core |"
echo "|---|---|---|---|"
cat "$out/idle.txt"
echo
echo "host 1's gluster processes after $by_count volumes: $host1_memory"
echo "whole machine busy during those ${idle_window} s: $machine_busy %; answering: $answered of $asked volumes mounted, written and read back ($which) in $answer_time s"
echo "brick multiplexing: $multiplex; brickyard created $by_count volumes ($gluster_count in gluster at the end, $started_count recorded started); per-volume times: $out/brickyard.txt, $out/floor.txt; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
