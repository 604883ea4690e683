# Shared by the bench scripts (sourced, after `cd` to the repository and setting `by` to the
# brickyard binary).

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
