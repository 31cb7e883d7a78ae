# Helpers for the lab benchmarks; sourced by the bench/lab-*.sh scripts.

# Busybox's date has no nanoseconds; /proc/uptime counts hundredths.
uptime_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# timed OUTFILE CMD...: runs CMD with SPOREVM_TIMINGS set, appends one line
# "wall_ms=... <spore's phase fields> total_ms=..." to OUTFILE. wall_ms has
# a 10 ms resolution; total_ms is spore's own, to the microsecond.
timed() {
    out="$1"
    shift
    start=$(uptime_ms)
    SPOREVM_TIMINGS=1 "$@" >/dev/null 2>/tmp/bench-stderr.txt || {
        echo "bench: $* failed: $(cat /tmp/bench-stderr.txt)" >&2
        exit 1
    }
    end=$(uptime_ms)
    phases=$(sed -n 's/^spore-timings://p' /tmp/bench-stderr.txt)
    echo "wall_ms=$((end - start))$phases" >>"$out"
}

# median FILE FIELD: the median of FIELD=value over the lines of FILE.
median() {
    tr ' ' '\n' <"$1" | sed -n "s/^$2=//p" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# pids_of TEXT: PIDs whose command line contains TEXT (the lab has no pgrep).
pids_of() {
    for entry in /proc/[0-9]*; do
        line=$( { tr "\0" " " <"$entry/cmdline"; } 2>/dev/null) || continue
        case "$line" in *"$1"*) echo "${entry#/proc/}" ;; esac
    done
}
