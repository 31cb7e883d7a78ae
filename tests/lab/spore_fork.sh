# Fork and fan-out: every child of a batch resumes as its own instance,
# with its own identity, entropy and a current wall clock. Cases share one
# base spore and one batch of 8 children, made by the first case that
# needs them, because every boot in the lab costs seconds.

fork_base=/tmp/lab-fork-base
fork_batch=/tmp/lab-fork-batch

need_batch() {
    if [ ! -f "$fork_base/manifest.json" ]; then
        spore run --capture "$fork_base" -- /bin/true >/dev/null 2>base.err ||
            fail "could not make the base spore: $(cat base.err)"
    fi
    if [ ! -d "$fork_batch" ]; then
        spore fork "$fork_base" --count 8 --out "$fork_batch" >/dev/null 2>fork.err ||
            fail "could not fork: $(cat fork.err)"
    fi
}

# What each child reports: its fork index, the env file's hostname and VM
# id, the kernel's hostname, 16 bytes of /dev/urandom and its wall clock.
report='. /run/sporevm/env
echo "$SPORE_FORK_INDEX $SPORE_FORK_COUNT $SPORE_HOSTNAME $(hostname) $SPORE_VM_ID $(head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n") $(date +%s)"'

# check_reports FILE: FILE holds one report line per child 0..7, in any
# order; every identity and random value differs between children.
check_reports() {
    expect_lines "$1" 8
    host=$(date +%s)
    while read -r index count env_host kernel_host vm_id random clock; do
        [ "$count" = 8 ] || fail "child $index sees fork count $count, want 8"
        [ "$env_host" = "$kernel_host" ] || fail "child $index: env hostname $env_host, kernel's $kernel_host"
        case "$env_host" in spore-????????????) ;; *) fail "child $index: hostname $env_host" ;; esac
        [ ${#vm_id} = 32 ] || fail "child $index: VM id $vm_id"
        [ ${#random} = 32 ] || fail "child $index: urandom bytes $random"
        expect_between "child $index clock minus host clock (s)" "$((clock - host + 100))" 60 105
    done <"$1"
    for column in 1 3 5 6; do
        distinct=$(cut -d' ' -f"$column" "$1" | sort -u | wc -l)
        [ "$distinct" = 8 ] || fail "column $column has $distinct distinct values among 8 children: $(cat "$1")"
    done
    [ "$(cut -d' ' -f1 "$1" | sort -n | tr '\n' ' ')" = "0 1 2 3 4 5 6 7 " ] ||
        fail "fork indices are $(cut -d' ' -f1 "$1" | tr '\n' ' ')"
}

test_fork_makes_numbered_children_sharing_one_chunk_store() {
    need_batch
    [ "$(ls "$fork_batch" | tr '\n' ' ')" = "000000 000001 000002 000003 000004 000005 000006 000007 chunks " ] ||
        fail "batch holds $(ls "$fork_batch" | tr '\n' ' ')"
    [ "$(readlink "$fork_batch/000003/chunks")" = ../chunks ] || fail "child chunks are not the batch store"
    parent_kib=$(du -sk "$fork_base/chunks" | cut -f1)
    # Hard links: the batch store and the parent's chunks are one set of
    # inodes, so together they take the room of one.
    both_kib=$(du -sk "$fork_base/chunks" "$fork_batch" | awk '{ total += $1 } END { print total }')
    expect_between "parent + batch KiB over parent KiB (%)" "$((both_kib * 100 / parent_kib))" 100 110
}

test_children_resumed_one_by_one_are_distinct_instances() {
    need_batch
    sleep 3 # let the spore's wall clock fall behind
    : >reports
    for child in "$fork_batch"/0*; do
        spore run --from "$child" -- /bin/sh -c "$report" >>reports 2>child.err ||
            fail "$child failed: $(cat child.err)"
    done
    check_reports reports
    name_index=$(spore run --from "$fork_batch/000005" -- /bin/sh -c '. /run/sporevm/env; echo $SPORE_FORK_INDEX')
    [ "$name_index" = 5 ] || fail "child 000005 reports index $name_index"
}

test_fanout_parallel_resumes_every_child_at_once() {
    need_batch
    run spore fanout "$fork_batch" --parallel --for 240s -- /bin/sh -c "$report"
    expect_status 0
    sed -n 's/^\[\(0[0-9]*\)\] //p' stdout >reports
    check_reports reports
    # Each line carries the name of the child that printed it.
    while read -r name index rest; do
        [ "$name" = "[00000$index]" ] || fail "line of child $index prefixed $name"
    done <stdout
    expect_contains stderr "000007"
}

test_fanout_reports_failed_children_and_exits_non_zero() {
    need_batch
    run spore fanout "$fork_batch" --jobs 4 --json -- /bin/sh -c '. /run/sporevm/env; exit $((SPORE_FORK_INDEX % 3))'
    expect_status 1
    expect_contains stdout '"name": "000002"'
    expect_contains stdout '"exit_status": 2'
}

test_fanout_for_stops_children_still_running() {
    need_batch
    run spore fanout "$fork_batch" --jobs 2 --for 20s -- /bin/sleep 1000
    # Stopping at the end of --for is how a bounded fan-out ends, not a failure.
    expect_status 0
    expect_contains stderr stopped
    [ -z "$(pids_of "run --from $fork_batch")" ] || fail "children still running after fanout ended"
}

test_process_running_at_capture_sees_the_child_identity() {
    # A loop started before the capture reads the identity files as they
    # are at each step; in a child it must see the child's index.
    loop='while true; do . /run/sporevm/env; echo "$SPORE_FORK_INDEX $SPORE_GENERATION"; sleep 0.5; done'
    spore run --capture "$PWD/live" --capture-on USR1 -- /bin/sh -c "$loop" >before 2>before.err &
    pid=$!
    wait_lines before 2
    kill -USR1 $pid
    wait $pid || fail "capture run failed: $(cat before.err)"
    [ "$(tail -n 1 before)" = "0 1" ] || fail "before capture the loop saw [$(tail -n 1 before)], want 0 1"
    spore fork "$PWD/live" --count 3 --out "$PWD/batch" >/dev/null 2>fork.err || fail "fork: $(cat fork.err)"
    timeout -s TERM 8 spore resume "$PWD/batch/000002" >after 2>after.err || true
    [ -s after ] || fail "resume printed nothing: $(cat after.err)"
    # The line printed first after the resume may predate the new
    # generation; the loop must pick up the child's identity right after.
    [ "$(tail -n 1 after)" = "2 3" ] || fail "the resumed loop saw [$(tail -n 1 after)], want 2 3 (index, generation)"
}

test_fork_of_a_fork_keeps_generations_increasing() {
    need_batch
    spore fork "$fork_batch/000004" --count 2 --out "$PWD/grand" >/dev/null 2>fork.err || fail "fork: $(cat fork.err)"
    run spore run --from "$PWD/grand/000001" -- /bin/sh -c \
        '. /run/sporevm/env; echo $SPORE_FORK_INDEX $SPORE_FORK_COUNT $SPORE_GENERATION $SPORE_PARENT_GENERATION'
    expect_status 0
    # base spore: generation 2; its children: 3; theirs: 4.
    expect_stdout "1 2 4 3"
    child_batch=$(spore inspect --json "$fork_batch/000004" | sed -n 's/.*"batch_id": "\([0-9a-f]*\)".*/\1/p')
    grand_batch=$(spore inspect --json "$PWD/grand/000001" | sed -n 's/.*"batch_id": "\([0-9a-f]*\)".*/\1/p')
    [ -n "$grand_batch" ] && [ "$child_batch" != "$grand_batch" ] || fail "batch ids $child_batch and $grand_batch"
}

test_resumes_of_one_spore_get_different_entropy() {
    need_batch
    first=$(spore run --from "$fork_base" -- /bin/sh -c 'head -c 16 /dev/urandom | od -An -tx1')
    second=$(spore run --from "$fork_base" -- /bin/sh -c 'head -c 16 /dev/urandom | od -An -tx1')
    [ -n "$first" ] && [ "$first" != "$second" ] || fail "two resumes read the same random bytes: $first"
}

test_fork_refuses_bad_counts_and_an_existing_out() {
    need_batch
    for count in 0 10001 x; do
        run spore fork "$fork_base" --count "$count" --out "$PWD/bad"
        expect_clean_failure
        [ ! -e bad ] || fail "count $count left $PWD/bad"
    done
    run spore fork "$fork_base" --count 2 --out "$fork_batch"
    expect_clean_failure
    expect_contains stderr "$fork_batch"
}
