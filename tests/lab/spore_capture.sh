# Spores: capture, resume and `run --from`, and the refusals of a restore
# that cannot be honest. Cases share one base spore, made by the first case
# that needs it, because every boot in the lab costs seconds.

base=/tmp/lab-spore-base

# The base spore: a guest that wrote a file and then went idle.
need_base() {
    [ -f "$base/manifest.json" ] && return 0
    spore run --capture "$base" -- /bin/sh -c 'echo warmed > /var/tmp/x' >/dev/null 2>base.err ||
        fail "could not make the base spore: $(cat base.err)"
}

# copy_base NAME: a private copy of the base spore to damage.
copy_base() {
    need_base
    cp -r "$base" "$1"
}

# The restores below must read the chunks, not the local RAM backing file
# that capture published, so each runs with an empty cache.
run_from_chunks() {
    mkdir -p empty-cache
    XDG_CACHE_HOME="$PWD/empty-cache" run "$@"
}

test_capture_then_run_from_sees_the_state() {
    need_base
    run spore run --from "$base" -- /bin/cat /var/tmp/x
    expect_status 0
    expect_stdout warmed
}

test_run_from_rebuilds_ram_from_chunks_without_the_backing_file() {
    need_base
    run_from_chunks spore run --from "$base" -- /bin/cat /var/tmp/x
    expect_status 0
    expect_stdout warmed
}

test_inspect_summarizes_and_json_is_machine_readable() {
    need_base
    run spore inspect "$base"
    expect_status 0
    expect_contains stdout "aarch64/kvm"
    run spore inspect --json "$base"
    expect_status 0
    expect_contains stdout '"memory_digest": "sha256:'
}

test_run_from_twice_gives_independent_guests() {
    need_base
    run spore run --from "$base" -- /bin/sh -c 'echo changed > /var/tmp/x'
    expect_status 0
    run spore run --from "$base" -- /bin/cat /var/tmp/x
    expect_stdout warmed
}

test_resumed_guest_has_entropy_and_current_wall_clock() {
    need_base
    sleep 3 # let the spore's wall clock fall behind
    run spore run --from "$base" -- /bin/sh -c 'head -c 32 /dev/urandom | wc -c; date +%s'
    expect_status 0
    bytes=$(sed -n 1p stdout)
    guest=$(sed -n 2p stdout)
    host=$(date +%s)
    [ "$bytes" = 32 ] || fail "read $bytes bytes of /dev/urandom, want 32"
    expect_between "guest clock minus host clock (s)" "$((guest - host + 100))" 95 105
}

test_guest_reads_the_generation_from_the_mapped_page() {
    # Its own spore, so the console of the boot that made it is at hand:
    # the agent reports a problem only when it differs from the last one.
    spore --debug run --console-log "$PWD/boot-console" --capture "$PWD/spore" -- /bin/true >/dev/null 2>boot.err ||
        fail "capture: $(tail -n 3 boot.err)"
    run spore --debug run --console-log "$PWD/console" --from "$PWD/spore" -- /bin/cat /run/sporevm/generation.json
    expect_status 0
    expect_contains stdout '"generation":2'
    # Hosts with 4 KiB pages map the parameter page into the guest; others
    # emulate it and say why.
    for log in boot.err stderr; do
        grep -qF "generation parameters mapped read-only into the guest" $log ||
            expect_contains $log "generation parameters read through MMIO: host pages are not 4 KiB"
    done
    # The agent reports a parameter page it could not use on the console.
    if grep -F "generation device" boot-console console; then
        fail "the agent could not use the generation device"
    fi
}

test_four_vcpu_spore_resumes_with_four_vcpus() {
    run spore run --cpus 4 --capture "$PWD/four" -- /bin/true
    expect_status 0
    run spore run --from "$PWD/four" -- /bin/sh -c 'grep -c ^processor /proc/cpuinfo'
    expect_status 0
    expect_stdout 4
}

# counter N: a shell loop printing 1, 2, ... once every 0.5 s, N times
# (forever when N is 0).
counter='i=0; while [ "$N" = 0 ] || [ $i -lt "$N" ]; do i=$((i + 1)); echo $i; sleep 0.5; done'

# expect_count_from FILE FIRST: FILE holds FIRST, FIRST+1, ... with no gap.
expect_count_from() {
    awk -v first="$2" 'NR == 1 && $1 != first { print "starts at " $1 ", want " first; exit 1 }
        NR > 1 && $1 != previous + 1 { print "gap or repeat after " previous; exit 1 }
        { previous = $1 }' "$1" >check.txt || fail "$1: $(cat check.txt)"
}

test_capture_on_signal_then_resume_continues_the_counter() {
    spore run --env N=0 --capture "$PWD/live" --capture-on USR1 -- /bin/sh -c "$counter" >before 2>before.err &
    pid=$!
    wait_lines before 3
    kill -USR1 $pid
    status=0
    wait $pid || status=$?
    [ "$status" = 0 ] || fail "capture run exited $status: $(cat before.err)"
    [ -f live/manifest.json ] || fail "no spore after the capture"
    expect_count_from before 1
    last=$(tail -n 1 before)

    timeout -s TERM 6 spore resume "$PWD/live" >after 2>after.err || true
    [ -s after ] || fail "resume printed nothing: $(cat after.err)"
    expect_count_from after $((last + 1))
    expect_between "lines after resume" "$(wc -l <after)" 3 20
}

test_continue_after_capture_keeps_running_and_spore_resumes() {
    spore run --env N=8 --capture "$PWD/cont" --capture-on USR1 --continue-after-capture \
        -- /bin/sh -c "$counter" >all 2>all.err &
    pid=$!
    wait_lines all 2
    kill -USR1 $pid
    status=0
    wait $pid || status=$?
    [ "$status" = 0 ] || fail "run exited $status: $(cat all.err)"
    expect_count_from all 1
    [ "$(tail -n 1 all)" = 8 ] || fail "the counter stopped at $(tail -n 1 all), want 8"
    [ -f cont/manifest.json ] || fail "no spore"

    run spore resume "$PWD/cont"
    expect_status 0
    last=$(tail -n 1 stdout)
    [ "$last" = 8 ] || fail "the resumed counter ended at $last, want 8"
}

test_resume_of_an_idle_spore_is_refused() {
    need_base
    run spore resume "$base"
    expect_clean_failure
    expect_lines stderr 1
    expect_contains stderr "run --from"
}

test_capture_into_an_existing_directory_is_refused() {
    mkdir taken
    run spore run --capture "$PWD/taken" -- /bin/true
    expect_clean_failure
    expect_contains stderr taken
    [ ! -e taken/manifest.json ] || fail "wrote into an existing directory"
}

test_killed_capture_leaves_nothing_or_a_complete_spore() {
    for delay in 0.5 1 1.5 2 2.5 3; do
        rm -rf killed
        spore run --capture "$PWD/killed" -- /bin/true >/dev/null 2>&1 &
        pid=$!
        sleep "$delay"
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        if [ -e killed ]; then
            spore inspect "$PWD/killed" >/dev/null 2>inspect.err ||
                fail "after kill at ${delay}s: $(cat inspect.err)"
        fi
    done
}

# refuse_restore SPORE TEXT: spore run --from refuses with one line holding TEXT.
refuse_restore() {
    run_from_chunks spore run --from "$1" -- /bin/echo should-not-run
    expect_clean_failure
    expect_empty stdout
    expect_lines stderr 1
    expect_contains stderr "$2"
}

first_chunk() { ls "$1/chunks" | head -n 1; }

test_restore_refuses_a_corrupt_chunk() {
    copy_base bad
    chunk="bad/chunks/$(first_chunk bad)"
    printf 'X' | dd of="$chunk" bs=1 seek=100 conv=notrunc 2>/dev/null
    refuse_restore bad corrupt
}

test_restore_refuses_a_missing_chunk() {
    copy_base bad
    rm "bad/chunks/$(first_chunk bad)"
    refuse_restore bad missing
}

test_restore_refuses_a_truncated_chunk() {
    copy_base bad
    chunk="bad/chunks/$(first_chunk bad)"
    head -c 1000 "$chunk" >cut && mv cut "$chunk"
    refuse_restore bad truncated
}

test_restore_refuses_a_truncated_manifest() {
    copy_base bad
    head -c 2000 bad/manifest.json >cut && mv cut bad/manifest.json
    refuse_restore bad manifest
}

test_restore_refuses_an_unknown_field() {
    copy_base bad
    sed -i 's/^{$/{ "surprise": 1,/' bad/manifest.json
    refuse_restore bad "unknown field"
}

test_restore_refuses_an_unknown_version() {
    copy_base bad
    sed -i 's/^  "version": 1,/  "version": 2,/' bad/manifest.json
    refuse_restore bad "version 2"
}

test_restore_refuses_another_counter_frequency() {
    copy_base bad
    sed -i 's/"counter_frequency": [0-9]*/"counter_frequency": 24000000/' bad/manifest.json
    refuse_restore bad "counter frequency"
}

test_restore_refuses_another_cpu() {
    copy_base bad
    sed -i '/cpu_identification/,/}/s/"MIDR_EL1": "0x[0-9a-f]*"/"MIDR_EL1": "0x00000000410fd0c1"/' bad/manifest.json
    refuse_restore bad MIDR_EL1
}

test_restore_refuses_another_device_model() {
    copy_base bad
    sed -i 's/"device_model_version": 1/"device_model_version": 7/' bad/manifest.json
    refuse_restore bad "device model"
}

test_restore_refuses_a_vcpu_count_that_does_not_match() {
    copy_base bad
    sed -i 's/"vcpu_count": 1/"vcpu_count": 2/' bad/manifest.json
    refuse_restore bad vcpu
}

test_restore_refuses_another_ram_layout() {
    copy_base bad
    sed -i 's/"ram_size": [0-9]*/"ram_size": 268435456/' bad/manifest.json
    refuse_restore bad ram
}

test_restore_refuses_an_unknown_register() {
    copy_base bad
    sed -i 's/"ACTLR_EL1"/"MADEUP_EL1"/' bad/manifest.json
    refuse_restore bad MADEUP_EL1
}
