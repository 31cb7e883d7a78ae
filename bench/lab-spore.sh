#!/bin/sh
# Runs inside the lab (or on an aarch64 KVM host): the spore figures.
#   cold boot vs resume of `spore run -- /bin/true`
#   resume of a 2 GiB guest vs a 256 MiB guest running the same workload
#   capture of a 2 GiB guest vs a 256 MiB guest with the same dirtied data
#   disk size of the spore of an idle 512 MiB guest
set -eu
. "${LAB_IN:-$(dirname "$0")}/lib.sh"
RUNS="${RUNS:-5}"
# Resume times vary most from run to run; they get more samples.
RESUME_RUNS="${RESUME_RUNS:-$((RUNS * 2 + 1))}"
work=/tmp/bench-spore
rm -rf "$work"
mkdir -p "$work"
# The same dirtied data in every guest: 64 MiB written to tmpfs.
workload='head -c 67108864 /dev/urandom > /tmp/blob'

spore run --capture "$work/base" -- /bin/true >/dev/null
# Cold runs and resumes take turns, like the two resume sizes below.
: >"$work/cold.txt"
: >"$work/warm.txt"
i=0
while [ "$i" -lt "$RUNS" ]; do
    timed "$work/cold.txt" spore run -- /bin/true
    timed "$work/warm.txt" spore run --from "$work/base" -- /bin/true
    i=$((i + 1))
done

for size in 256M 2G; do
    : >"$work/capture-$size.txt"
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        rm -rf "$work/s-$size"
        timed "$work/capture-$size.txt" spore run --memory "$size" --capture "$work/s-$size" -- /bin/sh -c "$workload"
        i=$((i + 1))
    done
done
# The two sizes take turns, so that a slow spell of the (emulated) host
# weighs on both alike rather than on whichever size ran during it.
: >"$work/resume-256M.txt"
: >"$work/resume-2G.txt"
i=0
while [ "$i" -lt "$RESUME_RUNS" ]; do
    for size in 256M 2G; do
        timed "$work/resume-$size.txt" spore run --from "$work/s-$size" -- /bin/true
    done
    i=$((i + 1))
done

spore run --capture "$work/idle" -- /bin/true >/dev/null
idle_kib=$(du -sk "$work/idle" | cut -f1)

cold=$(median "$work/cold.txt" total_ms)
warm=$(median "$work/warm.txt" total_ms)
resume_small=$(median "$work/resume-256M.txt" total_ms)
resume_large=$(median "$work/resume-2G.txt" total_ms)
capture_small=$(median "$work/capture-256M.txt" capture_ms)
capture_large=$(median "$work/capture-2G.txt" capture_ms)

echo "spore figures, medians of $RUNS runs (lab: compare ratios, not absolute times)"
echo "  (times are spore's own process time; wall clock medians: cold $(median "$work/cold.txt" wall_ms) ms, resume $(median "$work/warm.txt" wall_ms) ms)"
echo "  cold spore run -- /bin/true          ${cold} ms"
echo "  spore run --from SPORE -- /bin/true  ${warm} ms  (restore $(median "$work/warm.txt" restore_ms) ms, resume $(median "$work/warm.txt" resume_ms) ms)"
echo "  cold / resume                        $(ratio "$cold" "$warm")x   (target >= 30)"
echo "  resume 2 GiB / 256 MiB               $(ratio "$resume_large" "$resume_small")   (${resume_large} / ${resume_small} ms, medians of $RESUME_RUNS, target <= 1.2)"
echo "  capture 2 GiB / 256 MiB              $(ratio "$capture_large" "$capture_small")   (${capture_large} / ${capture_small} ms, target <= 1.5)"
echo "  idle 512 MiB spore on disk           $((idle_kib / 1024)) MiB ($idle_kib KiB)"
