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
