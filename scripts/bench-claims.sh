#!/usr/bin/env bash
# Benchmark: claims through the CSI driver on a 3-host lab, one after another, from the
# first to the CLAIMS-th, then deleted one after another.
#
#   scripts/bench-claims.sh           (run as root on an idle machine)
#   CLAIMS=100 CLAIM_PARAMETERS= CLAIM_BYTES=1048576 BRICKYARD=target/release/brickyard \
#       scripts/bench-claims.sh       (the defaults but BRICKYARD)
#
# On a 3-host lab named `benchc` with agents, `brickyard csi controller` serves on a socket
# of this machine; the bench `claims` (crates/cli/benches/claims.rs, built by `cargo bench`)
# calls CreateVolume for claims bench-claim-1, -2, … and times each call until it returns:
# the claim recorded, the pool lock's holder providing it (for a subdirectory claim: the
# shared volume made with the first, then a directory with its owner and mode, and its
# quota limit), the controller seeing it ready. Then DeleteVolume for each, timed the same
# way. CLAIM_PARAMETERS are the StorageClass parameters (`key=value,...`; none: a
# subdirectory of the shared volume `brickyard-claims`); `provisioning=volume` gives each
# claim a volume of its own. Afterwards the agents' memory and CPU over 60 s.
# Results go to stdout as Markdown rows. The lab is taken down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_binary
claims=${CLAIMS:-100}
case $claims in '' | *[!0-9]*) echo "CLAIMS is a number, not '$claims'" >&2; exit 2 ;; esac
name=benchc
out=$(mktemp -d /tmp/bench-claims.XXXXXX)
controller=

cleanup() {
    [ -n "$controller" ] && kill "$controller" 2>/dev/null && wait "$controller" 2>/dev/null
    bench_cleanup $name "$out/mnt"
}
trap cleanup EXIT

echo "build: $build, $by"
bench_machine
echo

# The bench itself, built before the lab so that the build does not share the machine
# with the measurement.
cargo bench -q -p brickyard --bench claims --no-run 2>"$out/build.log" || { cat "$out/build.log" >&2; exit 1; }

$by lab down --name $name >/dev/null 2>&1 || true
$by lab up --name $name --hosts 3 --wait 600 >"$out/lab-up.log" 2>&1
eval "$($by lab env --name $name)"
export BRICKYARD_STORE

endpoint=unix://$out/csi.sock
$by csi controller --endpoint "$endpoint" >"$out/controller.log" 2>&1 &
controller=$!
for _ in $(seq 1 100); do
    [ -S "$out/csi.sock" ] && break
    sleep 0.1
done

BRICKYARD_BENCH_CSI_ENDPOINT=$endpoint CLAIMS=$claims \
    cargo bench -q -p brickyard --bench claims >"$out/calls.txt" 2>"$out/bench.err"
awk '$1 == "create" {print $3}' "$out/calls.txt" >"$out/create.txt"
awk '$1 == "delete" {print $3}' "$out/calls.txt" >"$out/delete.txt"

# The agents, idle with the claims gone: their memory and CPU over 60 s.
sleep 10
busy=$(agents_idle $name 60 "$out/idle.txt")

echo "| claims, ${CLAIM_PARAMETERS:-subdirectories of the shared volume} | first (s) | 10th (s) | last (s) | median (s) | p90 (s) | mean of 11–20 (s) | mean of the last 10 (s) | succeeded |"
echo "|---|---|---|---|---|---|---|---|---|"
read -r a1 a10 an amed ap90 aok a11 alast < <(stats "$out/create.txt")
echo "| CreateVolume, $claims claims | $a1 | $a10 | $an | $amed | $ap90 | $a11 | $alast | $aok |"
read -r d1 d10 dn dmed dp90 dok d11 dlast < <(stats "$out/delete.txt")
echo "| DeleteVolume, the same claims | $d1 | $d10 | $dn | $dmed | $dp90 | $d11 | $dlast | $dok |"
echo
echo "| node agent, idle 10 s after the deletes (pid) | RSS (MiB) | CPU, % of a core | CPU with the gluster commands it ran, % of a core |"
echo "|---|---|---|---|"
cat "$out/idle.txt"
echo
echo "whole machine busy during those 60 s: $busy %"
echo "per-call times: $out/calls.txt; errors: $out/bench.err; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
