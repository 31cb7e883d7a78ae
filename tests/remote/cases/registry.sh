# Pushing bundles to OCI distribution registries and pulling them back:
# plain HTTP, TLS with Basic auth, and bearer tokens.

test_registry_push_by_tag_then_pull_a_child_by_digest() {
    make_bundle
    run "$SPORE" push bundle "oci://$SPOREVM_TEST_REGISTRY/ci/base:main"
    expect_status 0
    expect_stdout "$digest"
    tagged="$(curl -sI -H 'Accept: application/vnd.oci.image.index.v1+json' \
        "http://$SPOREVM_TEST_REGISTRY/v2/ci/base/manifests/main" | tr -d '\r' |
        sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')"
    [ "$tagged" = "$digest" ] || fail "the tag main names $tagged, want $digest"

    run "$SPORE" pull "oci://$SPOREVM_TEST_REGISTRY/ci/base@$digest" --child 7 --out c7
    expect_clean_failure
    expect_contains stderr "no child 000007"
    run "$SPORE" pull "oci://$SPOREVM_TEST_REGISTRY/ci/base@$digest" --child 2 --out c2
    expect_status 0
    "$SPORE" unpack bundle --child 2 --out unpacked 2>/dev/null
    expect_same_spore unpacked c2
}

test_registry_over_tls_needs_its_credentials() {
    make_bundle
    location="oci://$SPOREVM_TEST_REGISTRY_TLS/ci/tls"
    run "$SPORE" push bundle "$location" --cacert "$SPOREVM_TEST_CA"
    expect_clean_failure
    expect_contains stderr "401"
    SPOREVM_REGISTRY_USERNAME="$SPOREVM_TEST_REGISTRY_TLS_USERNAME" SPOREVM_REGISTRY_PASSWORD=wrong \
        run "$SPORE" push bundle "$location" --cacert "$SPOREVM_TEST_CA"
    expect_clean_failure

    export SPOREVM_REGISTRY_USERNAME="$SPOREVM_TEST_REGISTRY_TLS_USERNAME"
    export SPOREVM_REGISTRY_PASSWORD="$SPOREVM_TEST_REGISTRY_TLS_PASSWORD"
    run "$SPORE" push bundle "$location:v1" --cacert "$SPOREVM_TEST_CA"
    expect_status 0
    run "$SPORE" pull "$location@$digest" --child 1 --out c1
    expect_clean_failure
    expect_contains stderr "certificate"
    run "$SPORE" pull "$location@$digest" --child 1 --out c1 --cacert "$SPOREVM_TEST_CA"
    expect_status 0
    "$SPORE" unpack bundle --child 1 --out unpacked 2>/dev/null
    expect_same_spore unpacked c1
}

test_registry_with_token_auth_pulls_anonymously_and_pushes_with_credentials() {
    make_bundle
    location="oci://$SPOREVM_TEST_REGISTRY_TOKEN/ci/token"
    run "$SPORE" push bundle "$location:main"
    expect_clean_failure
    expect_contains stderr "401"

    SPOREVM_REGISTRY_USERNAME="$SPOREVM_TEST_REGISTRY_TOKEN_USERNAME" \
        SPOREVM_REGISTRY_PASSWORD="$SPOREVM_TEST_REGISTRY_TOKEN_PASSWORD" \
        run "$SPORE" push bundle "$location:main"
    expect_status 0
    expect_stdout "$digest"
    run "$SPORE" pull "$location@$digest" --child 0 --out c0
    expect_status 0
    expect_same_spore batch/000000 c0
}

test_registry_pull_refuses_a_tampered_blob() {
    make_bundle
    run "$SPORE" push bundle "oci://$SPOREVM_TEST_REGISTRY/ci/tampered"
    expect_status 0
    chunk="$(chunk_digest parent 0)"
    hex="${chunk#sha256:}"
    data="$SPOREVM_TEST_REGISTRY_STORAGE/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
    [ -f "$data" ] || fail "no blob file at $data"
    printf 'XXXX' | dd of="$data" bs=1 seek=100 conv=notrunc 2>/dev/null
    run "$SPORE" pull "oci://$SPOREVM_TEST_REGISTRY/ci/tampered@$digest" --out c
    expect_clean_failure
    expect_contains stderr "blob $chunk is corrupt"
    expect_no_spore c
}
