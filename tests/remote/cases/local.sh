# Bundles on this host: pack, unpack, local pulls and pushes to a directory.

test_pack_unpack_and_local_pull_give_the_same_child() {
    make_bundle
    run "$SPORE" unpack bundle --child 42 --out c
    expect_clean_failure
    expect_contains stderr "no child 000042"
    run "$SPORE" unpack bundle --child 3 --out c3 --json
    expect_status 0
    [ "$(json digest)" = "$digest" ] || fail "unpack reports $(json digest), want $digest"
    expect_same_spore batch/000003 c3
    run "$SPORE" pull "$PWD/bundle@$digest" --child 3 --out p3
    expect_status 0
    expect_same_spore c3 p3
    other="sha256:$(printf other | sha256sum | cut -d' ' -f1)"
    run "$SPORE" pull "bundle@$other" --out wrong
    expect_clean_failure
    expect_contains stderr "bundle digest is $digest, expected $other"
    expect_no_spore wrong
}

test_push_to_a_directory_copies_the_bundle() {
    make_bundle
    run "$SPORE" push bundle copied
    expect_status 0
    expect_stdout "$digest"
    run "$SPORE" unpack copied --child 0 --out c0 --digest "$digest"
    expect_status 0
    expect_same_spore batch/000000 c0
}

test_packing_twice_gives_the_same_digest() {
    make_bundle
    again="$("$SPORE" pack parent --children batch --out bundle2 2>/dev/null)"
    [ "$again" = "$digest" ] || fail "second pack gave $again, want $digest"
    run "$SPORE" pack parent --children batch --out bundle
    expect_clean_failure
    expect_contains stderr "already exists"
}

test_inspect_tells_a_bundle_from_a_spore() {
    make_bundle
    run "$SPORE" inspect bundle --json
    expect_status 0
    [ "$(json kind)" = bundle ] || fail "inspect of a bundle says kind $(json kind)"
    [ "$(json digest)" = "$digest" ] || fail "inspect reports digest $(json digest), want $digest"
    [ "$(jq -r '.children | length' stdout)" = 4 ] || fail "inspect lists $(jq -r '.children | length' stdout) children"
    run "$SPORE" inspect parent --json
    expect_status 0
    [ "$(json kind)" = null ] || fail "a spore was inspected as a $(json kind)"
    expect_contains stdout '"memory_digest"'
}
