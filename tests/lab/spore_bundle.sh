# Bundles in the lab: a child taken alone out of a packed batch resumes as
# that child, and this static build says plainly that it cannot reach
# remote stores (the native build's remote tests cover those).

test_child_pulled_alone_from_a_bundle_resumes_as_that_child() {
    spore run --memory 256M --capture base -- /bin/sh -c 'echo warmed > /var/tmp/state' >/dev/null 2>run.err ||
        fail "could not capture: $(cat run.err)"
    spore fork base --count 3 --out forks >/dev/null 2>fork.err || fail "could not fork: $(cat fork.err)"
    digest=$(spore pack base --children forks --out base.bundle 2>pack.err) || fail "pack: $(cat pack.err)"
    # Nothing of the original spore or batch is left to lean on.
    rm -rf base forks
    run spore pull "base.bundle@$digest" --child 2 --out child
    expect_status 0
    [ ! -L child/chunks ] || fail "the pulled child's chunks are a symlink"
    run spore run --from child -- /bin/sh -c '. /run/sporevm/env; cat /var/tmp/state; echo "$SPORE_FORK_INDEX of $SPORE_FORK_COUNT"'
    expect_status 0
    printf 'warmed\n2 of 3\n' >expected
    cmp -s expected stdout || fail "the child printed [$(excerpt stdout)]"
}

test_static_build_refuses_remote_pulls_with_a_reason() {
    spore version | grep -q 'remote stores: directories only' || skip "this spore has remote transports"
    run spore pull "https://127.0.0.1:1/b@sha256:$(printf x | sha256sum | cut -d' ' -f1)" --out c
    expect_status 125
    expect_contains stderr "built without remote transports"
    [ ! -e c ] || fail "a refused pull left c"
}
