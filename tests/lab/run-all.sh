#!/bin/sh
# Runs the lab test cases in one boot of the lab:
#
#   scripts/lab --in tests/lab --out RESULTS tests/lab/run-all.sh [CASE...]
#
# A case is a shell function `test_NAME` in one of the *.sh files beside
# this one (LAB_IN in the lab). Each runs in a fresh shell and scratch
# directory under a time limit, and leaves RESULTS/NAME.result (pass, skip
# or "fail ...") and RESULTS/NAME.log. CASE arguments select cases by NAME.
# The exit status is 0 whenever the cases ran, whatever their outcome:
# ctest reports each case from its files (tests/lab/check-result.sh).

cases_dir="${LAB_IN:-$(cd "$(dirname "$0")" && pwd)}"
results="${LAB_OUT:?LAB_OUT is not set: run this through scripts/lab}"
case_timeout="${LAB_CASE_TIMEOUT:-300}"

# Internal: run-all.sh --one FILE FUNCTION DIRECTORY runs a single case.
if [ "${1:-}" = --one ]; then
    . "$cases_dir/lib.sh"
    . "$2"
    cd "$4" || exit 1
    "$3"
    exit 0
fi

# Lists "FILE FUNCTION" for every case, in file order.
list_cases() {
    for file in "$cases_dir"/*.sh; do
        sed -n 's/^\(test_[a-z0-9_]*\)() *{.*/\1/p' "$file" | while read -r function; do
            echo "$file $function"
        done
    done
}

selected() {
    [ $# -gt 1 ] || return 0
    name="$1"
    shift
    for wanted in "$@"; do
        [ "$wanted" != "$name" ] || return 0
    done
    return 1
}

uptime_now() { cut -d' ' -f1 /proc/uptime; }
mkdir -p "$results"
passed=0
failed=0
skipped=0
case_list=$(mktemp)
list_cases >"$case_list"
while read -r file function; do
    name="${function#test_}"
    selected "$name" "$@" || continue
    started=$(uptime_now)
    scratch=$(mktemp -d)
    timeout -s KILL "$case_timeout" /bin/sh "$0" --one "$file" "$function" "$scratch" \
        >"$results/$name.log" 2>&1 </dev/null
    status=$?
    rm -rf "$scratch"
    seconds=$(awk -v a="$started" -v b="$(uptime_now)" 'BEGIN { printf "%.1f", b - a }')
    case "$status" in
        0) result=pass; passed=$((passed + 1)) ;;
        77) result=skip; skipped=$((skipped + 1)) ;;
        137) result="fail: killed after the ${case_timeout} s case limit"; failed=$((failed + 1)) ;;
        *) result="fail: status $status"; failed=$((failed + 1)) ;;
    esac
    echo "$result" >"$results/$name.result"
    echo "$result	$name	${seconds} s"
done <"$case_list"
rm -f "$case_list"
echo "lab cases: $passed passed, $failed failed, $skipped skipped"
