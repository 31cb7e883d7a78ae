#!/bin/sh
# Usage: check-result.sh RESULTS_DIR NAME
#
# Reports one lab case for ctest from the files run-all.sh left: prints the
# case's log and exits 0 if it passed, 77 if it skipped, 1 otherwise.

results="$1"
name="$2"
if [ ! -f "$results/$name.result" ]; then
    echo "lab.$name: no result in $results: lab.boot did not run the case (see its output)"
    exit 1
fi
cat "$results/$name.log"
read -r result <"$results/$name.result"
case "$result" in
    pass) exit 0 ;;
    skip) exit 77 ;;
    *) echo "lab.$name: $result"; exit 1 ;;
esac
