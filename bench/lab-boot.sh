#!/bin/sh
# Runs inside the lab (or on an aarch64 KVM host): times `spore run --
# /bin/true` RUNS times and prints the median of the wall time and of each
# phase spore reports (assets, setup, boot, command).
set -eu
RUNS="${RUNS:-5}"
results=/tmp/bench-boot.txt
: >"$results"

now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
nanos() { date +%s%N 2>/dev/null; }

i=0
while [ "$i" -lt "$RUNS" ]; do
    start="$(nanos)"
    SPOREVM_TIMINGS=1 spore run -- /bin/true 2>/tmp/bench-timings.txt
    end="$(nanos)"
    wall_ms="$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", (e - s) / 1e6 }')"
    line="$(grep '^spore-timings:' /tmp/bench-timings.txt | sed 's/^spore-timings://')"
    echo "wall_ms=$wall_ms $line" >>"$results"
    i=$((i + 1))
done

median() {
    tr ' ' '\n' <"$results" | sed -n "s/^$1=//p" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "spore run -- /bin/true, median of $RUNS runs (lab: compare ratios, not absolute times)"
for phase in wall assets setup boot command; do
    printf '  %-8s %8s ms\n' "$phase" "$(median ${phase}_ms)"
done
