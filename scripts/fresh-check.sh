#!/usr/bin/env bash
# `make fresh-check`: README's set-up, from nothing, on a fresh Debian 12 root file system.
#
# A machine where packages were once installed by hand hides a missing install step; this
# check does not. It makes a minimal Debian 12 root (`debootstrap --variant=minbase`,
# cached), adds only what a machine with a Rust toolchain already has (make, gcc, the C
# library's headers, CA certificates), copies in this repository and binds in the Rust
# toolchain read-only, and there runs, as README says a new user does:
#
#   make demo          to its end (a 3-host lab, a replica-3 volume, FUSE), then `lab down`
#   make build unit    the build of `make test` and its unit tests
#
# How the root is entered: `unshare` and `pivot_root`, both from util-linux, which the
# project needs anyway. The root gets a mount namespace and a PID namespace of its own (the
# lab needs its root to be a mount point, and `nsenter` must land inside it, which a plain
# chroot does not give); it shares the machine's network, so apt, pip and cargo reach their
# registries. When the check ends, however it ends, the kernel removes every mount and
# process made inside; this script then detaches the loop devices and removes the network
# links the lab made (found by the lab's name, which this script chose) and the root itself.
# A container runtime would do the same with more moving parts (podman needs runc and
# explicit ulimits here); this is the whole mechanism, in one readable file.
#
# Environment: BRICKYARD_CACHE (default /var/cache/brickyard) holds the cached root;
# FRESH_KEEP=1 keeps the root after the check for a look; FRESH_TEST=full runs all of
# `make test` instead of its build and unit tests (about five minutes more).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/rootfs.sh
. "$repo/scripts/rootfs.sh"

# What a machine with a Rust toolchain has before anyone runs README's commands: rustup
# needs a C compiler and linker with the C library's headers, and `make` runs the two
# commands. CA certificates let cargo and pip reach their registries.
FRESH_PACKAGES="ca-certificates make gcc libc6-dev"

# The environment variables through which this machine's clients reach the registries.
FORWARD_ENV=(SSL_CERT_FILE SSL_CERT_DIR REQUESTS_CA_BUNDLE CURL_CA_BUNDLE CARGO_HTTP_CAINFO
    http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY)

# Adds this machine's own CA certificates to the root, as its client set-up needs them.
add_machine_cas() {
    local root=$1
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        in_chroot "$root" update-ca-certificates >/dev/null
    fi
}

# Runs one of README's steps inside the root, timing it; on failure says what it means.
step() {
    local name=$1 started=$SECONDS
    shift
    printf '\n==> fresh-check: %s\n' "$name"
    if ! "$@"; then
        printf '\n==> fresh-check: FAILED: `%s` on a fresh Debian 12 root after %ss.\n' "$name" $((SECONDS - started))
        printf '    A command or file "not found" above usually means a Debian package is missing from\n'
        printf '    APT_PACKAGES in the Makefile: the set-up must install everything it uses.\n'
        return 1
    fi
    printf '==> fresh-check: %s passed in %ss\n' "$name" $((SECONDS - started))
    echo "$name $((SECONDS - started))" >>/src/target/fresh-check-times
}

# Inside the root, after pivot_root: README's commands.
inside() {
    local lab=$1
    cd /src
    mkdir -p target
    export BRICKYARD_LAB=$lab
    trap 'target/debug/brickyard lab down --name "$BRICKYARD_LAB" >/dev/null 2>&1 || true' EXIT
    step "make demo" make demo
    step "brickyard lab down" target/debug/brickyard lab down --name "$lab"
    if [[ ${FRESH_TEST:-} == full ]]; then
        step "make test" make test
    else
        step "make build unit" make build unit
    fi
}

# As PID 1 of the new PID namespace, in the new mount namespace: makes the root a mount
# point with /proc, /sys, /dev (loop devices, /dev/fuse), a tmpfs /run and the toolchain,
# pivots into it, and runs `inside` with a clean environment.
enter() {
    local root=$1 lab=$2 rustup=$3 cargo_bin=$4
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$root/run"
    mkdir -p "$root/root/.rustup" "$root/root/.cargo/bin"
    mount --bind -o ro "$rustup" "$root/root/.rustup"
    mount --bind -o ro "$cargo_bin" "$root/root/.cargo/bin"
    cd "$root"
    mkdir -p .old-root
    pivot_root . .old-root
    umount -l /.old-root
    rmdir /.old-root
    local env=(HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 FRESH_TEST="${FRESH_TEST:-}"
        PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
    local v
    for v in "${FORWARD_ENV[@]}" $(compgen -e PIP_); do
        [[ -n ${!v:-} ]] && env+=("$v=${!v}")
    done
    exec env -i "${env[@]}" bash /src/scripts/fresh-check.sh --inside "$lab"
}

case "${1:-}" in
--inside)
    inside "$2"
    exit
    ;;
--enter)
    enter "$2" "$3" "$4" "$5"
    ;;
esac

[[ $EUID -eq 0 ]] || die "run it as root (sudo make fresh-check): it makes namespaces, loop devices and mounts"
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
[[ -x $cargo_home/bin/cargo && -d $rustup_home/toolchains ]] ||
    die "no rustup toolchain in $cargo_home and $rustup_home; install Rust with rustup (https://rustup.rs) first"

started=$SECONDS
cas=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum)
base=$(cached_rootfs fresh "$FRESH_PACKAGES" add_machine_cas "$cas")
work=$(mktemp -d /var/tmp/brickyard-fresh.XXXXXX)
root=$work/root
# A lab name of our own (1-8 characters), so that whatever the lab made on the machine's
# network is found by name afterwards.
lab=fresh$((RANDOM % 1000))
mkdir -p "$repo/target"
log=$repo/target/fresh-check.log

cleanup() {
    local rc=$? problems=()
    # Mounts and processes ended with the namespaces. Loop devices and the lab's links on the
    # machine's network outlive them: remove those the check made.
    local img ino majmin dev
    while IFS= read -r img; do
        ino=$(stat -c %i "$img") majmin=$(stat -c '%Hd:%Ld' "$img")
        while read -r dev bino bdev; do
            if [[ $bino == "$ino" && $bdev == "$majmin" ]]; then
                losetup -d "$dev" || problems+=("loop device $dev")
            fi
        done < <(losetup -l -n -O NAME,BACK-INO,BACK-MAJ:MIN 2>/dev/null)
    done < <(find "$work" -xdev -type f -name '*.img' 2>/dev/null)
    local link
    while IFS= read -r link; do
        if [[ $link == "byl-$lab" || $link =~ ^byl-$lab-[0-9]+$ ]]; then
            ip link del "$link" 2>/dev/null || problems+=("interface $link")
        fi
    done < <(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}')
    if grep -qF " $work" /proc/self/mountinfo; then
        problems+=("mounts under $work")
    elif [[ ${FRESH_KEEP:-} != 1 ]]; then
        rm -rf --one-file-system "$work"
    else
        say "kept the root at $root"
    fi
    if ((${#problems[@]})); then
        say "could not remove: ${problems[*]}"
        rc=1
    fi
    if ((rc == 0)); then
        say "passed in $((SECONDS - started))s: $(tr '\n' ' ' <"$repo/target/fresh-check-times" 2>/dev/null) (log: $log)"
    else
        say "failed after $((SECONDS - started))s; the whole log is $log"
    fi
    exit "$rc"
}
trap cleanup EXIT
# Until the check runs, a signal waits for the current step (unpacking, copying) to finish.
trap 'exit 130' INT TERM
: >"$log"

say "unpacking $base into $root"
mkdir -p "$root"
tar -C "$root" -xf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
[[ -f /etc/pip.conf ]] && cp /etc/pip.conf "$root/etc/pip.conf"
say "copying the repository into $root/src"
mkdir -p "$root/src"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$repo" ls-files -z --cached --others --exclude-standard |
        tar -C "$repo" --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$root/src" -xf -
else
    tar -C "$repo" --exclude=./target -cf - . | tar -C "$root/src" -xf -
fi
mkdir -p "$root/src/target"

rm -f "$repo/target/fresh-check-times"
# In the background, so that a signal reaches this script at once. `unshare --fork` ignores
# SIGTERM and SIGINT while it waits, so it is killed; that kills its child (--kill-child),
# and with it, as PID 1 of its namespace, everything inside.
unshare --mount --pid --fork --kill-child --propagation private -- \
    "$repo/scripts/fresh-check.sh" --enter "$root" "$lab" "$rustup_home" "$cargo_home/bin" \
    > >(tee "$log") 2>&1 &
child=$!
trap 'kill -KILL "$child" 2>/dev/null; wait "$child"; exit 130' INT TERM
rc=0
wait "$child" || rc=$?
cp "$root/src/target/fresh-check-times" "$repo/target/fresh-check-times" 2>/dev/null || true
exit "$rc"
