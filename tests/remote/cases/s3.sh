# Pushing bundles to an S3 store that verifies SigV4 signatures, and
# pulling them back.

# s3 ARGS...: spore with the test store's endpoint and credentials.
s3() {
    AWS_ENDPOINT_URL="$SPOREVM_TEST_S3_ENDPOINT" AWS_ACCESS_KEY_ID="$SPOREVM_TEST_S3_ACCESS_KEY" \
        AWS_SECRET_ACCESS_KEY="${S3_SECRET:-$SPOREVM_TEST_S3_SECRET_KEY}" AWS_REGION=us-east-1 "$SPORE" "$@"
}

test_s3_push_prints_the_digest_and_a_pulled_child_matches() {
    make_bundle
    prefix="s3://$SPOREVM_TEST_S3_BUCKET/ci/round-trip"
    run s3 push bundle "$prefix"
    expect_status 0
    expect_stdout "$digest"
    run s3 pull "$prefix@$digest" --child 3 --out c3 --json
    expect_status 0
    "$SPORE" unpack bundle --child 3 --out unpacked 2>/dev/null
    expect_same_spore unpacked c3

    run s3 push bundle "$prefix" --json
    expect_status 0
    [ "$(json blobs_uploaded)" = 1 ] || fail "a second push uploaded $(json blobs_uploaded) blobs, want only the index"
}

test_s3_wrong_secret_is_refused_and_nothing_is_published() {
    make_bundle
    prefix="s3://$SPOREVM_TEST_S3_BUCKET/ci/wrong-secret"
    S3_SECRET=not-the-secret run s3 push bundle "$prefix"
    expect_clean_failure
    expect_contains stderr "403"
    [ -z "$(find "$SPOREVM_TEST_S3_DATA" -path '*wrong-secret*' -type f | head -n1)" ] ||
        fail "a refused push stored objects"

    run s3 push bundle "$prefix"
    expect_status 0
    S3_SECRET=not-the-secret run s3 pull "$prefix@$digest" --out c
    expect_clean_failure
    expect_contains stderr "SignatureDoesNotMatch"
    expect_no_spore c
}

test_s3_pull_refuses_a_tampered_object() {
    make_bundle
    prefix="s3://$SPOREVM_TEST_S3_BUCKET/ci/tampered"
    run s3 push bundle "$prefix"
    expect_status 0
    chunk="$(chunk_digest parent 1)"
    # s3rver keeps each object's bytes in KEY._S3rver_object.
    object="$(find "$SPOREVM_TEST_S3_DATA" -path "*ci/tampered/blobs/sha256/*" -name "${chunk#sha256:}._S3rver_object" | head -n1)"
    [ -n "$object" ] || fail "cannot find the stored chunk object under $SPOREVM_TEST_S3_DATA"
    printf 'XXXX' | dd of="$object" bs=1 seek=4096 conv=notrunc 2>/dev/null
    run s3 pull "$prefix@$digest" --out c
    expect_clean_failure
    expect_contains stderr "blob $chunk is corrupt"
    expect_no_spore c
}
