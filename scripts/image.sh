#!/usr/bin/env bash
# `make image`: the node agent's OCI image, localhost/brickyard:<version>, built with podman.
#
#   scripts/image.sh [--binary PATH] [--tag IMAGE] [--geo-replication] [--print-size]
#
# The image holds Debian 12's gluster packages and the brickyard binary, with `brickyard node
# run` as its entrypoint: the first seed's container, run the same way (host network,
# privileged, the host's /etc/glusterfs, /var/lib/glusterd, /var/log/glusterfs, /dev and brick
# mount points bind-mounted, the store in BRICKYARD_STORE or KV_IP).
#
# No registry is reachable from the machines this is built on, so the base is not pulled: it
# is a `debootstrap --variant=minbase` root with the packages installed and trimmed to what
# the agent needs at run time (scripts/rootfs.sh caches it), imported into podman as
# localhost/brickyard-base:<hash>. The Containerfile beside this script's directory adds the
# binary. Building the base takes about a minute the first time; after that an image takes
# seconds.
#
# The image leaves out gluster's geo-replication helper (gsyncd) unless built with
# --geo-replication: glusterd runs it 25 times at every start, a fresh Python each, and
# answers after 2-3 s instead of about 50 ms (docs/benchmarks.md). Without it, glusterd logs
# "geo-replication module not installed" and `gluster volume geo-replication` does not work;
# brickyard does not manage geo-replication.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/rootfs.sh
. "$repo/scripts/rootfs.sh"

# What the agent and `host prepare` run: glusterd, glusterfsd and the gluster CLI; the FUSE
# client (mount -t glusterfs); mkfs.xfs; ip; LVM with thin pools. util-linux (lsblk, findmnt,
# wipefs, nsenter) and mount (mount, umount, losetup) are part of every Debian root already.
IMAGE_PACKAGES="glusterfs-server glusterfs-client xfsprogs iproute2 lvm2 thin-provisioning-tools"
# Where the image keeps the package's own files, to seed empty host directories mounted over
# /etc/glusterfs and /var/lib/glusterd (the agent's --seed-from, BRICKYARD_SEED_FROM).
SEED_DIR=/usr/share/brickyard/seed

binary=$repo/target/release/brickyard
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
tag=localhost/brickyard:$version
print_size=false
geo_replication=false
while (($#)); do
    case $1 in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --print-size) print_size=true; shift ;;
    --geo-replication) geo_replication=true; shift ;;
    *) die "unknown argument $1; use --binary PATH, --tag IMAGE, --geo-replication or --print-size" ;;
    esac
done
[[ $EUID -eq 0 ]] || die "run it as root (sudo make image): podman's root storage holds the image"
[[ -x $binary ]] || die "no brickyard binary at $binary; build it first (cargo build --release -p brickyard)"
need_packages podman runc

# Keeps the package's config files for seeding, and leaves out what nothing runs: manuals,
# documentation (but each package's copyright file), translations, logs and caches.
trim_image_root() {
    local root=$1
    mkdir -p "$root$SEED_DIR/etc" "$root$SEED_DIR/var/lib/glusterd"
    cp -a "$root/etc/glusterfs" "$root$SEED_DIR/etc/glusterfs"
    cp -a "$root/var/lib/glusterd/groups" "$root/var/lib/glusterd/hooks" "$root$SEED_DIR/var/lib/glusterd/"
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root/usr/share/man/"* "$root/usr/share/info/"* "$root/usr/share/lintian" \
        "$root/usr/share/locale/"* "$root/var/cache/debconf/"*-old "$root/var/log/"*
    find "$root/usr/lib/python3" "$root/usr/lib/python3.11" -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
    # glusterd must not find the build machine's identity or peers in a new host directory.
    rm -f "$root/var/lib/glusterd/glusterd.info"
    # Missing (ENOENT), glusterd skips geo-replication; present but broken, it would not start.
    if [[ $geo_replication != true ]]; then
        rm -f "$root"/usr/lib/*/glusterfs/gsyncd
    fi
}

tarball=$(cached_rootfs image "$IMAGE_PACKAGES" trim_image_root "$SEED_DIR geo-replication=$geo_replication")
base=localhost/brickyard-base:$(basename "$tarball" .tar | sed 's/^image-//')
# podman refuses the machine's nofile/nproc defaults under runc here; give it ours.
ulimits=(--ulimit "nofile=$(ulimit -Sn):$(ulimit -Hn)" --ulimit "nproc=$(ulimit -Su):$(ulimit -Hu)")
if ! podman image exists "$base"; then
    say "importing $tarball as $base"
    podman import --quiet "$tarball" "$base" >/dev/null
fi

context=$(mktemp -d /var/tmp/brickyard-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp "$binary" "$context/brickyard"
cp "$repo/Containerfile" "$context/Containerfile"
say "building $tag from $base and $binary"
previous=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
podman build --quiet --pull=never "${ulimits[@]}" \
    --build-arg "BASE=$base" --build-arg "VERSION=$version" --build-arg "SEED_DIR=$SEED_DIR" \
    -t "$tag" "$context" >/dev/null
# The image this tag named before is left without a name: remove it unless a container uses it.
if [[ -n $previous && $previous != "$(podman image inspect --format '{{.Id}}' "$tag")" ]]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
fi
size=$(podman image inspect --format '{{.Size}}' "$tag")
say "built $tag: $((size / 1024 / 1024)) MiB"
if $print_size; then
    echo "$size"
fi
