# `spore run -- CMD`: a throwaway VM with the managed kernel and the
# embedded exec initrd runs CMD, streams its output and returns its status.

test_version_reports_facts() {
    run spore version
    expect_status 0
    expect_not_empty stdout
}

test_run_echo_prints_exactly_its_output() {
    run spore run -- /bin/echo hello
    expect_status 0
    expect_stdout hello
}

test_run_returns_the_command_status() {
    for want in 0 1 7; do
        run spore run -- /bin/sh -c "exit $want"
        expect_status "$want"
        expect_empty stdout
    done
}

test_run_missing_program_exits_127() {
    run spore run -- /nonexistent
    expect_status 127
    expect_empty stdout
    expect_not_empty stderr
}

test_run_keeps_stdout_and_stderr_apart() {
    run spore run -- /bin/sh -c 'echo out; echo err >&2'
    expect_status 0
    expect_stdout out
    expect_contains stderr err
    ! grep -qx out stderr || fail "stdout leaked into stderr"
}

test_run_streams_8_mib_intact() {
    echo "+ spore run -- 8 MiB of x | sha256sum"
    got=$(spore run -- /bin/sh -c 'head -c 8388608 /dev/zero | tr "\0" "x"' | tee stdout | sha256sum)
    want=$(head -c 8388608 /dev/zero | tr "\0" "x" | sha256sum)
    size=$(wc -c <stdout)
    [ "$size" = 8388608 ] || fail "got $size bytes, want 8388608"
    [ "$got" = "$want" ] || fail "sha256 $got, want $want"
}

test_run_env_sets_a_variable() {
    run spore run --env FOO=bar -- /bin/sh -c 'echo $FOO'
    expect_status 0
    expect_stdout bar
}

test_run_workdir_sets_the_directory() {
    run spore run --workdir /tmp -- /bin/sh -c pwd
    expect_status 0
    expect_stdout /tmp
}

test_run_cpus_sets_the_vcpu_count() {
    run spore run --cpus 4 -- /bin/sh -c 'grep -c ^processor /proc/cpuinfo'
    expect_status 0
    expect_stdout 4
}

# The kernel reserves some of the RAM for itself, so MemTotal is below
# 256 MiB; a quarter less would mean the flag was ignored or misread.
test_run_memory_sets_the_guest_ram() {
    run spore run --memory 256M -- /bin/sh -c 'grep MemTotal /proc/meminfo'
    expect_status 0
    kib=$(awk '{ print $2 }' stdout)
    expect_between "MemTotal (KiB)" "${kib:-0}" 196608 262144
}
