#!/bin/sh
# Runs inside the lab (or on an aarch64 KVM host): memory shared by the
# children of one fork. COUNT children (default 32) of a 512 MiB spore
# resume at once and idle; each one's PSS (its fair share of pages it
# shares with the others) is read from /proc/PID/smaps_rollup and set
# against the RSS of one idle cold-booted 512 MiB guest.
set -eu
. "${LAB_IN:-$(dirname "$0")}/lib.sh"
COUNT="${COUNT:-32}"
work=/tmp/bench-fork
rm -rf "$work"
mkdir -p "$work"
idle='echo up; exec sleep 100000'

# wait_up FILE N: waits until N guests printed "up" into FILE.
wait_up() {
    tries=0
    while [ "$(grep -c 'up$' "$1" 2>/dev/null || true)" -lt "$2" ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 1200 ] || { echo "bench: only $(grep -c 'up$' "$1") of $2 guests came up" >&2; exit 1; }
        sleep 0.5
    done
    sleep 2 # let the last ones settle into idle
}

# kib FIELD PID: FIELD (Rss, Pss, ...) of PID's smaps_rollup, in KiB.
kib() { awk -v field="$1:" '$1 == field { print $2 }' "/proc/$2/smaps_rollup"; }

spore run --memory 512M -- /bin/sh -c "$idle" >"$work/parent.out" 2>&1 &
wait_up "$work/parent.out" 1
parent_pid=$(pids_of "spore run --memory 512M -- " | head -n 1)
parent_rss=$(kib Rss "$parent_pid")
kill "$parent_pid"
wait 2>/dev/null || true

spore run --memory 512M --capture "$work/base" -- /bin/true >/dev/null
spore fork "$work/base" --count "$COUNT" --out "$work/batch" >/dev/null
started=$(uptime_ms)
spore fanout "$work/batch" --parallel -- /bin/sh -c "$idle" >"$work/children.out" 2>&1 &
fanout_pid=$!
wait_up "$work/children.out" "$COUNT"
all_up_ms=$(($(uptime_ms) - started))

: >"$work/pss.txt"
for pid in $(pids_of "run --from $work/batch/"); do
    echo "$(kib Pss "$pid") $(kib Rss "$pid")" >>"$work/pss.txt"
done
kill "$fanout_pid"
kill $(pids_of "run --from $work/batch/") 2>/dev/null || true
wait 2>/dev/null || true

measured=$(wc -l <"$work/pss.txt")
pss_mean=$(awk '{ total += $1 } END { printf "%.1f", total / NR / 1024 }' "$work/pss.txt")
pss_max=$(sort -n "$work/pss.txt" | tail -n 1 | awk '{ printf "%.1f", $1 / 1024 }')
rss_mean=$(awk '{ total += $2 } END { printf "%.1f", total / NR / 1024 }' "$work/pss.txt")

echo "fork sharing, $measured children of a 512 MiB spore resumed at once, idle"
echo "  (lab: compare ratios, not absolute times)"
echo "  PSS per child     mean $pss_mean MiB, max $pss_max MiB   (target <= 8 MiB)"
echo "  RSS per child     mean $rss_mean MiB"
echo "  parent RSS        $(awk -v k="$parent_rss" 'BEGIN { printf "%.1f", k / 1024 }') MiB (one idle cold-booted 512 MiB guest)"
echo "  PSS / parent RSS  $(ratio "$(awk '{ t += $1 } END { print t / NR }' "$work/pss.txt")" "$parent_rss")"
echo "  all $COUNT up after ${all_up_ms} ms (wall)"
