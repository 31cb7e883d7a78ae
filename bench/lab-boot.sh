#!/bin/sh
# Runs inside the lab (or on an aarch64 KVM host): times `spore run --
# /bin/true` RUNS times and prints the median of the wall time and of each
# phase spore reports (assets, setup, boot, command).
set -eu
. "${LAB_IN:-$(dirname "$0")}/lib.sh"
RUNS="${RUNS:-5}"
results=/tmp/bench-boot.txt
: >"$results"
i=0
while [ "$i" -lt "$RUNS" ]; do
    timed "$results" spore run -- /bin/true
    i=$((i + 1))
done

echo "spore run -- /bin/true, median of $RUNS runs (lab: compare ratios, not absolute times)"
for phase in wall total assets setup boot command; do
    printf '  %-8s %8s ms\n' "$phase" "$(median "$results" ${phase}_ms)"
done
