# Shared by the bench scripts (sourced after `cd` to the repository; the functions that run
# brickyard use `by`, which bench_binary sets).

# Sets `by` to the brickyard binary (BRICKYARD, a path absolute or from the repository; by
# default the debug build) and `build` to release or debug; exits when it is not there.
bench_binary() {
    by=${BRICKYARD:-$PWD/target/debug/brickyard}
    case $by in /*) ;; *) by=$PWD/$by ;; esac
    [ -x "$by" ] || { echo "build first: cargo build (or set BRICKYARD to a brickyard binary)" >&2; exit 1; }
    case $by in */release/*) build=release ;; *) build=debug ;; esac
}

# Unmounts every FUSE mount under $2 that `brickyard lab mount` made, then takes lab $1
# down; for `trap ... EXIT`, so it never fails.
bench_cleanup() {
    local name=$1 mnt=$2 m
    for m in "$mnt"/*; do
        mountpoint -q "$m" 2>/dev/null && { $by lab umount --name "$name" "$m" >/dev/null 2>&1 || umount -l "$m" || true; }
    done
    $by lab down --name "$name" >/dev/null 2>&1 || true
}

# One line about the machine, for the results.
bench_machine() {
    echo "machine: $(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"), $(gluster --version | head -1), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# Prints "COMM PROCESSES RSS_KIB PSS_KIB" for glusterd, glusterfsd and glusterfs (the
# self-heal daemon and clients), summed over the processes of lab $1's host $2 (a network
# namespace of this machine), from /proc. RSS counts every page a process maps; PSS divides
# a page shared by N processes among them.
gluster_memory() {
    python3 - "/run/netns/byl-$1-$2" <<'PY'
import os, sys
ns = os.stat(sys.argv[1]).st_ino
def kib(pid, path, key):
    try:
        for line in open(f"/proc/{pid}/{path}"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
out = {c: [0, 0, 0] for c in ("glusterd", "glusterfsd", "glusterfs")}
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        comm = open(f"/proc/{p}/comm").read().strip()
        same = os.stat(f"/proc/{p}/ns/net").st_ino == ns
    except OSError:
        continue
    if same and comm in out:
        o = out[comm]
        o[0] += 1
        o[1] += kib(p, "status", "VmRSS")
        o[2] += kib(p, "smaps_rollup", "Pss")
for c, (n, r, q) in out.items():
    print(c, n, r, q)
PY
}

# Prints "busy total" clock ticks of the whole machine so far (/proc/stat).
machine_ticks() {
    awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat
}

# Prints "own children" CPU clock ticks of process $1 so far (/proc/PID/stat).
process_ticks() {
    awk '{print $14 + $15, $16 + $17}' "/proc/$1/stat"
}

# Measures lab $1's node agents over $2 seconds from /proc: writes a Markdown row per agent
# to file $3 ("| PID | RSS MiB | % of a core | % with the gluster commands it ran |") and
# prints how busy the whole machine was meanwhile, in %.
agents_idle() {
    local name=$1 window=$2 rows=$3 hz p s1 k1 rss busy0 total0 busy1 total1
    hz=$(getconf CLK_TCK)
    local -a agents
    mapfile -t agents < <(pgrep -f -- "--store .*/lab/$name/store node run" || true)
    local -A self0 kids0
    read -r busy0 total0 < <(machine_ticks)
    for p in "${agents[@]}"; do read -r "self0[$p]" "kids0[$p]" < <(process_ticks "$p"); done
    sleep "$window"
    read -r busy1 total1 < <(machine_ticks)
    : >"$rows"
    for p in "${agents[@]}"; do
        read -r s1 k1 < <(process_ticks "$p")
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status")
        python3 -c "print(f'| $p | {$rss / 1024:.1f} | {($s1 - ${self0[$p]}) * 100 / $hz / $window:.2f} | {($s1 - ${self0[$p]} + $k1 - ${kids0[$p]}) * 100 / $hz / $window:.2f} |')" >>"$rows"
    done
    python3 -c "print(f'{($busy1 - $busy0) * 100 / ($total1 - $total0):.0f}')"
}

# Prints "v1 v10 vN median p90 ok mean11-20 mean-of-the-last-10" from a file of seconds, one
# per line (a failure as "-").
stats() {
    python3 - "$1" <<'PY'
import math, sys
raw = [l.strip() for l in open(sys.argv[1]) if l.strip()]
ok = sorted(float(x) for x in raw if x != "-")
def at(i):
    return f"{float(raw[i - 1]):.2f}" if 1 <= i <= len(raw) and raw[i - 1] != "-" else "-"
med = f"{ok[(len(ok) - 1) // 2] if len(ok) % 2 else (ok[len(ok) // 2 - 1] + ok[len(ok) // 2]) / 2:.2f}" if ok else "-"
p90 = f"{ok[math.ceil(0.9 * len(ok)) - 1]:.2f}" if ok else "-"
def mean(part):
    xs = [float(x) for x in part if x != "-"]
    return f"{sum(xs) / len(xs):.2f}" if xs else "-"
print(at(1), at(10), at(len(raw)), med, p90, f"{len(ok)}/{len(raw)}", mean(raw[10:20]), mean(raw[-10:]))
PY
}
