# Helpers for the lab test cases, sourced by run-all.sh before a case file.
# Each case runs in its own shell, in an empty scratch directory; it passes
# when its function returns, fails at the first `fail`, and skips with
# `skip`. Everything a case prints lands in its log, shown when it fails.

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

skip() {
    echo "SKIP: $*"
    exit 77
}

# run CMD...: runs CMD with its stdout in ./stdout and its stderr in
# ./stderr, sets $status, and traces all three into the log.
run() {
    printf '+'
    for word in "$@"; do
        case "$word" in
            *[!A-Za-z0-9_./=:,+-]* | '') printf " '%s'" "$word" ;;
            *) printf ' %s' "$word" ;;
        esac
    done
    echo
    status=0
    "$@" >stdout 2>stderr || status=$?
    echo "  status $status, stdout $(wc -c <stdout) bytes, stderr $(wc -c <stderr) bytes"
    head -c 2000 stderr | sed 's/^/  stderr| /'
}

# excerpt FILE: the start of FILE, made visible, for failure messages.
excerpt() {
    head -c 200 "$1" | od -An -c | head -n 4 | tr -s ' '
}

expect_status() {
    [ "$status" = "$1" ] || fail "exit status $status, want $1"
}

# A clean failure: a non-zero status chosen by the program, not a signal.
expect_clean_failure() {
    [ "$status" != 0 ] || fail "exit status 0, want a failure"
    [ "$status" -lt 128 ] || fail "exit status $status: killed by a signal?"
}

# expect_stdout TEXT: stdout is exactly TEXT plus one newline.
expect_stdout() {
    printf '%s\n' "$1" >expected
    cmp -s expected stdout || fail "stdout is [$(excerpt stdout)], want [$(excerpt expected)]"
}

expect_empty() {
    [ ! -s "$1" ] || fail "$1 is not empty: [$(excerpt "$1")]"
}

expect_not_empty() {
    [ -s "$1" ] || fail "$1 is empty"
}

# expect_lines FILE N: FILE holds exactly N lines.
expect_lines() {
    lines=$(wc -l <"$1")
    [ "$lines" = "$2" ] || fail "$1 has $lines lines, want $2: [$(excerpt "$1")]"
}

# expect_contains FILE TEXT: some line of FILE contains TEXT.
expect_contains() {
    grep -qF -- "$2" "$1" || fail "$1 lacks '$2': [$(excerpt "$1")]"
}

# expect_between NAME VALUE LOW HIGH: LOW <= VALUE <= HIGH.
expect_between() {
    [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] || fail "$1 is $2, want $3..$4"
}

# wait_lines FILE N: waits until FILE has at least N lines.
wait_lines() {
    tries=0
    while [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -lt "$2" ]; do
        tries=$((tries + 1))
        [ $tries -lt 300 ] || fail "$1 never reached $2 lines: [$(excerpt "$1")]"
        sleep 0.1
    done
}

# pids_of TEXT: PIDs whose command line contains TEXT (the lab has no pgrep).
pids_of() {
    for entry in /proc/[0-9]*; do
        line=$( { tr "\0" " " <"$entry/cmdline"; } 2>/dev/null) || continue
        case "$line" in *"$1"*) echo "${entry#/proc/}" ;; esac
    done
}
