# The lab itself: what every other case takes for granted.

test_lab_host_has_kvm() {
    [ "$(uname -m)" = aarch64 ] || fail "uname -m is $(uname -m), want aarch64"
    [ -c /dev/kvm ] || fail "/dev/kvm is missing"
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || fail "/dev/kvm is not usable"
}

test_lab_host_has_spore_and_managed_kernel() {
    command -v spore >/dev/null || fail "spore is not on PATH"
    kernel_dir="${SPOREVM_KERNEL_DIR:-/usr/share/sporevm/kernel}"
    for file in Image Image.sha256 config; do
        [ -s "$kernel_dir/$file" ] || fail "$kernel_dir/$file is missing"
    done
    (cd "$kernel_dir" && sha256sum -c Image.sha256) || fail "Image does not match Image.sha256"
}
