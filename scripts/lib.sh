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
