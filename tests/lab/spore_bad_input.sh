# Bad boot assets: spore refuses them with a clear message and a non-zero
# status, or gives up on a guest that never comes up, instead of hanging
# or crashing.

test_run_missing_kernel_fails_with_one_line() {
    run spore run --kernel /nonexistent -- true
    expect_clean_failure
    expect_empty stdout
    expect_lines stderr 1
}

test_run_corrupt_kernel_fails_cleanly() {
    head -c 100000 /dev/urandom >bad-kernel
    run spore run --kernel "$PWD/bad-kernel" -- true
    expect_clean_failure
    expect_empty stdout
    expect_not_empty stderr
}

# An initramfs cut in the middle of a file: the guest kernel cannot find
# its init, so spore must report an error, at the latest once the boot
# timeout has passed.
test_run_truncated_initrd_fails_or_times_out() {
    busybox=/bin/busybox
    [ -x "$busybox" ] || skip "no $busybox to build an initrd with"
    mkdir -p root/bin
    cp "$busybox" root/bin/busybox
    printf '#!/bin/busybox sh\n/bin/busybox echo should-not-run\n' >root/init
    chmod +x root/init
    (cd root && find . | cpio -o -H newc) >full.cpio 2>/dev/null
    size=$(wc -c <full.cpio)
    head -c $((size / 2)) full.cpio >truncated.cpio

    started=$(date +%s)
    run spore run --initrd "$PWD/truncated.cpio" --boot-timeout 20 -- true
    seconds=$(($(date +%s) - started))
    expect_clean_failure
    expect_not_empty stderr
    ! grep -q should-not-run stdout stderr || fail "the truncated init ran"
    expect_between "seconds until spore gave up" "$seconds" 0 90
}

# make_initrd FILE INIT_SCRIPT: a tiny initramfs with busybox whose /init
# is the given shell script.
make_initrd() {
    [ -x /bin/busybox ] || skip "no /bin/busybox to build an initrd with"
    rm -rf root
    mkdir -p root/bin
    cp /bin/busybox root/bin/busybox
    printf '#!/bin/busybox sh\n%s\n' "$2" >root/init
    chmod +x root/init
    (cd root && find . | cpio -o -H newc) >"$1" 2>/dev/null
}

# An init that exits makes the kernel panic; with panic=-1 the guest resets
# at once and spore reports that, without waiting for the boot timeout.
test_run_guest_panic_is_reported() {
    make_initrd panic.cpio 'exit 3'
    started=$(date +%s)
    run spore run --initrd "$PWD/panic.cpio" --boot-timeout 60 -- true
    seconds=$(($(date +%s) - started))
    expect_clean_failure
    expect_lines stderr 1
    expect_contains stderr "kernel panic"
    expect_between "seconds until spore reported the panic" "$seconds" 0 30
}

# An init that never starts the agent: spore gives up at the boot timeout
# with one line, instead of hanging.
test_run_silent_guest_times_out() {
    make_initrd silent.cpio 'while :; do /bin/busybox sleep 1000; done'
    started=$(date +%s)
    run spore run --initrd "$PWD/silent.cpio" --boot-timeout 5 -- true
    seconds=$(($(date +%s) - started))
    expect_clean_failure
    expect_lines stderr 1
    expect_contains stderr "did not answer"
    expect_between "seconds until spore gave up" "$seconds" 5 30
}

test_run_rejects_too_many_cpus() {
    run spore run --cpus 9 -- true
    expect_clean_failure
    expect_lines stderr 1
    expect_contains stderr "--cpus"
}

test_run_rejects_unaligned_memory() {
    run spore run --memory 101M -- true
    expect_clean_failure
    expect_lines stderr 1
    expect_contains stderr "multiple of 2 MiB"
}
