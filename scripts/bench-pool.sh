#!/usr/bin/env bash
# Benchmark: how long a lab takes to form its trusted pool, next to the floor on the same
# hosts, and what a lab host costs in memory; plus the node agent's idle RSS and CPU.
#
#   scripts/bench-pool.sh [N...]      (default: 3 6 12; run as root on an idle machine)
#   MODES="hidden installed"          (default: both) how the hosts' glusterd finds gsyncd
#
# For each N, and each mode (`hidden`: gluster's geo-replication helper hidden from the
# hosts, the lab's default and the image's; `installed`: as the package installed it, `lab
# up --geo-replication`), it makes a lab named `bench`, measures, and takes it down again:
# - brickyard: from the agents' start (host prepare, then node run) to every agent seeing
#   all others connected, as `lab up` reports it; and `lab up` from the first command;
# - floor: the same hosts with glusterd already running and bound, and the raw
#   `gluster peer probe` calls done back to back from host 1, until every glusterd lists
#   every other as connected;
# - memory: the summed RSS of each host's processes (glusterd, agent, supervisor) once the
#   pool is formed and idle;
# - agent: RSS and CPU time of the node agents over 30 s of idling (first N only);
# - restart: host 1's glusterd killed (`lab fault kill`) until host 1 sees all peers
#   connected again, its agent having started a new glusterd (first N only).
# Results go to stdout as Markdown rows.
set -euo pipefail
cd "$(dirname "$0")/.."
by=${BRICKYARD:-$PWD/target/debug/brickyard}
[ -x "$by" ] || { echo "build first: cargo build" >&2; exit 1; }
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(3 6 12)
name=bench
dir=/var/lib/brickyard/lab/$name
trap '$by lab down --name $name >/dev/null 2>&1 || true' EXIT

now() { date +%s.%N; }
calc() { python3 -c "print(f'{$1:.2f}')"; }
since() { calc "$(now) - $1"; }

# RSS in kB of every process whose mount namespace is that of host $1's holder.
host_rss() {
    local holder ns total=0 pid
    holder=$(cat "$dir/hosts/$1/holder.pid")
    ns=$(readlink "/proc/$holder/ns/mnt")
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        [ "$(readlink /proc/$pid/ns/mnt 2>/dev/null)" = "$ns" ] || continue
        total=$((total + $(awk '/^VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)))
    done
    echo $total
}

agent_pids() { pgrep -f -- "--store .*/lab/$name/store node run" || true; }

# Waits until host $1 lists $2 members connected; gives up after 120 s.
until_connected() {
    local deadline=$(($(date +%s) + 120))
    until [ "$($by lab exec --name $name "$1" -- gluster pool list 2>/dev/null | grep -c Connected)" = "$2" ]; do
        [ "$(date +%s)" -lt $deadline ] || { echo "host $1 did not see $2 members connected within 120 s" >&2; exit 1; }
        sleep 0.05
    done
}

cpu_ticks() { # utime+stime of the given pids
    local t=0 p
    for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0))); done
    echo $t
}

modes=(${MODES:-hidden installed})
echo "| hosts | gsyncd | lab up (s) | agents start → pool formed (s) | of which: slowest glusterd start (s) | last glusterd answering → pool formed (s) | floor: probes back to back → all connected (s) | memory per host (MiB) |"
echo "|---|---|---|---|---|---|---|---|"
agent_lines=()
for n in "${sizes[@]}"; do
    for mode in "${modes[@]}"; do
        geo=(); [ "$mode" = installed ] && geo=(--geo-replication)
        $by lab down --name $name >/dev/null 2>&1 || true
        t0=$(now)
        out=$($by lab up --name $name --hosts "$n" --disk-size 512Mi --wait 600 "${geo[@]}" 2>/dev/null)
        up=$(since "$t0")
        formed=$(sed -n 's/.*formed \([0-9.]*\)s after.*/\1/p' <<<"$out")
        # From the agents' logs: the slowest glusterd start (gluster's own), and how long the
        # pool took to form once the last glusterd answered.
        read -r gstart after < <(python3 - "$dir" "$n" <<'PY'
import re, sys
from datetime import datetime
d, n = sys.argv[1], int(sys.argv[2])
ts = lambda l: datetime.fromisoformat(l.split()[0].rstrip("Z"))
answered, formed, start = [], [], []
for i in range(1, n + 1):
    for line in open(f"{d}/hosts/{i}/command.log", errors="replace"):
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        if "glusterd started pid" in line and not start[i - 1:i]:
            start.append(ts(line))
        if "glusterd is answering" in line:
            answered.append(ts(line))
        if "trusted pool of" in line:
            formed.append(ts(line))
slowest = max((a - s).total_seconds() for a, s in zip(answered, start))
print(f"{slowest:.2f} {(max(formed) - max(answered)).total_seconds():.2f}")
PY
)
        sleep 5
        mem=0
        for i in $(seq 1 "$n"); do mem=$((mem + $(host_rss "$i"))); done
        mem_per_host=$(calc "$mem / $n / 1024")
        if [ "$n" = "${sizes[0]}" ]; then
            pids=($(agent_pids))
            rss=0; for p in "${pids[@]}"; do rss=$((rss + $(awk '/^VmRSS/ {print $2}' /proc/$p/status))); done
            c0=$(cpu_ticks "${pids[@]}"); sleep 30; c1=$(cpu_ticks "${pids[@]}")
            hz=$(getconf CLK_TCK)
            agent_lines+=("node agent, idle ($n hosts, gsyncd $mode): RSS $(calc "$rss / ${#pids[@]} / 1024") MiB per agent, CPU $(calc "($c1 - $c0) * 100 / $hz / 30 / ${#pids[@]}")% of one core per agent")
            # A killed glusterd: until host 1 lists every peer connected again.
            $by lab fault --name $name kill 1 glusterd >/dev/null
            t0=$(now)
            sleep 0.05
            until_connected 1 "$n"
            agent_lines+=("glusterd killed on host 1 ($n hosts, gsyncd $mode): all peers connected again after $(since "$t0") s")
        fi
        $by lab down --name $name >/dev/null
        [ "$mode" = "${modes[-1]}" ] || echo "| $n | $mode | $up | $formed | $gstart | $after | | $mem_per_host |"
    done

    # The floor: same hosts, glusterd started by hand and bound, raw probes from host 1.
    $by lab up --name $name --hosts "$n" --disk-size 512Mi --no-agents >/dev/null 2>&1
    ips=($($by lab status --name $name --output json | python3 -c 'import json,sys; [print(h["ip"]) for h in json.load(sys.stdin)["hosts"]]'))
    for i in $(seq 1 "$n"); do
        ip=${ips[$((i - 1))]}
        $by lab exec --name $name "$i" -- sh -c "sed 's/^end-volume/    option transport.socket.bind-address $ip\nend-volume/' /etc/glusterfs/glusterd.vol > /tmp/v && cat /tmp/v > /etc/glusterfs/glusterd.vol && glusterd -p /run/glusterd.pid"
    done
    for i in $(seq 1 "$n"); do
        for _ in $(seq 1 600); do
            ! $by lab exec --name $name "$i" -- gluster pool list >/dev/null 2>&1 || break
            sleep 0.1
        done
    done
    t0=$(now)
    for ip in "${ips[@]:1}"; do
        $by lab exec --name $name 1 -- gluster peer probe "$ip" >/dev/null
    done
    for i in $(seq 1 "$n"); do until_connected "$i" "$n"; done
    floor=$(since "$t0")
    $by lab down --name $name >/dev/null
    echo "| $n | $mode | $up | $formed | $gstart | $after | $floor | $mem_per_host |"
done
echo
printf '%s\n' "${agent_lines[@]}"
