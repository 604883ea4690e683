# Debian 12 root file systems made with debootstrap, cached as tarballs.
#
# Sourced by scripts/fresh-check.sh and scripts/image.sh. No registry is reachable from the
# machines this project is built on, so a base system comes from Debian's own archive
# (`debootstrap --variant=minbase bookworm`), not from an image pull. Building one takes
# about half a minute plus the packages asked for; the result is kept as a tarball under
# $BRICKYARD_CACHE (default /var/cache/brickyard), named after a hash of everything that
# went into it, so a changed recipe makes a new one and an unchanged one is reused.

BRICKYARD_CACHE=${BRICKYARD_CACHE:-/var/cache/brickyard}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY=${DEBIAN_SECURITY:-http://deb.debian.org/debian-security}

# Prints a message on stderr, prefixed with the running script's name.
say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Installs the Debian packages named as arguments on this machine when any is missing.
need_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        say "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# The apt sources of a standard Debian 12 machine, written into root $1.
write_sources() {
    local root=$1
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $DEBIAN_SECURITY
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

# Runs a command chrooted into root $1 in a mount and PID namespace of its own, with /proc
# mounted and services kept from starting; everything it starts dies with it.
in_chroot() {
    local root=$1
    shift
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    printf '#!/bin/sh\n# Never start services while the image is being built.\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    unshare --mount --pid --fork --kill-child --propagation private -- \
        /bin/sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$root" \
        /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"
    rm -f "$root/usr/sbin/policy-rc.d"
}

# Prints the path of a cached minbase tarball with the packages named by $2 installed,
# building it when missing. $1 names the recipe (e.g. "fresh", "image"); $3, when given, is
# a function run with the root directory before it is packed (to add files or slim it down),
# and $4 a string of anything else the recipe depends on (hashed into the name).
cached_rootfs() (
    local recipe=$1 packages=$2 hook=${3:-} extra=${4:-}
    local key
    key=$(printf '%s\n' "bookworm" "$DEBIAN_MIRROR" "$packages" "$extra" \
        "$(declare -f write_sources in_chroot ${hook:+"$hook"})" | sha256sum | cut -c1-16)
    local tarball=$BRICKYARD_CACHE/rootfs/$recipe-$key.tar
    if [[ -s $tarball ]]; then
        printf '%s\n' "$tarball"
        return
    fi
    need_packages debootstrap
    mkdir -p "$BRICKYARD_CACHE/rootfs"
    local work
    work=$(mktemp -d "$BRICKYARD_CACHE/rootfs/.build-$recipe.XXXXXX")
    # The build directory goes whatever happens (this function runs in a subshell of its
    # own); nothing in it is mounted by then, as every mount was made in a namespace that has
    # ended.
    trap 'rm -rf --one-file-system "$work"' EXIT
    say "making a Debian 12 minbase root for '$recipe' (cached in $tarball)"
    debootstrap --variant=minbase bookworm "$work/root" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 ||
        die "debootstrap failed; its log: $(tail -5 "$work/debootstrap.log")"
    write_sources "$work/root"
    if [[ -n $packages ]]; then
        say "installing into it: $packages"
        # shellcheck disable=SC2086 # the package list is meant to split
        in_chroot "$work/root" sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages >/dev/null" ||
            die "installing $packages into the '$recipe' root failed"
    fi
    if [[ -n $hook ]]; then
        "$hook" "$work/root"
    fi
    rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin "$work/root/var/cache/apt/archives/"*.deb
    tar -C "$work/root" --numeric-owner -cf "$work/root.tar" .
    mv "$work/root.tar" "$tarball"
    printf '%s\n' "$tarball"
)
