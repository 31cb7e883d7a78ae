# Pulling bundles from a static web server: nginx over HTTP and HTTPS.

test_http_pull_of_a_child_is_the_unpacked_child() {
    make_bundle
    serve_bundle http-child
    run "$SPORE" pull "$SPOREVM_TEST_HTTP_URL/http-child@$digest" --child 2 --out c2 --json
    expect_status 0
    [ "$(json spore)" = 000002 ] || fail "pulled $(json spore), want 000002"
    [ "$(json chunks_fetched)" = 4 ] || fail "fetched $(json chunks_fetched) chunks, want 4"
    "$SPORE" unpack bundle --child 000002 --out unpacked 2>/dev/null
    expect_same_spore unpacked c2
    [ ! -L c2/chunks ] || fail "a pulled child must hold its own chunks, not a symlink"
}

test_https_pull_verifies_the_server_against_the_given_ca() {
    make_bundle
    serve_bundle https-ca
    run "$SPORE" pull "$SPOREVM_TEST_HTTPS_URL/https-ca@$digest" --out untrusted
    expect_clean_failure
    expect_contains stderr "certificate"
    expect_no_spore untrusted

    run "$SPORE" pull "$SPOREVM_TEST_HTTPS_URL/https-ca@$digest" --out trusted --cacert "$SPOREVM_TEST_CA"
    expect_status 0
    expect_same_spore parent trusted
    run env SSL_CERT_FILE="$SPOREVM_TEST_CA" "$SPORE" pull "$SPOREVM_TEST_HTTPS_URL/https-ca@$digest" \
        --child 0 --out from-environment
    expect_status 0
}

test_http_pull_refuses_a_redirect() {
    make_bundle
    serve_bundle redirected
    run "$SPORE" pull "$SPOREVM_TEST_HTTP_REDIRECT_URL/redirected@$digest" --out c
    expect_clean_failure
    expect_contains stderr "redirect refused"
    expect_no_spore c
}

test_http_pull_refuses_a_tampered_chunk() {
    make_bundle
    serve_bundle tampered
    chunk="$(chunk_digest parent 3)"
    printf 'X' | dd of="$(blob_of "$SPOREVM_TEST_HTTP_ROOT/tampered" "$chunk")" bs=1 seek=1000 conv=notrunc 2>/dev/null
    run "$SPORE" pull "$SPOREVM_TEST_HTTP_URL/tampered@$digest" --child 1 --out c
    expect_clean_failure
    expect_contains stderr "blob $chunk is corrupt"
    expect_no_spore c
    [ ! -e "$SPOREVM_CACHE/blobs/${chunk#sha256:}" ] || fail "the tampered chunk was cached"
}

test_http_pull_refuses_a_truncated_chunk() {
    make_bundle
    serve_bundle truncated
    chunk="$(chunk_digest parent 0)"
    truncate -s 1000 "$(blob_of "$SPOREVM_TEST_HTTP_ROOT/truncated" "$chunk")"
    run "$SPORE" pull "$SPOREVM_TEST_HTTP_URL/truncated@$digest" --out c
    expect_clean_failure
    expect_contains stderr "blob $chunk is truncated (1000 of 2097152 bytes)"
    expect_no_spore c
}

test_http_pull_refuses_a_bundle_missing_a_chunk() {
    make_bundle
    serve_bundle missing-chunk
    chunk="$(chunk_digest parent 2)"
    rm "$(blob_of "$SPOREVM_TEST_HTTP_ROOT/missing-chunk" "$chunk")"
    run "$SPORE" pull "$SPOREVM_TEST_HTTP_URL/missing-chunk@$digest" --child 3 --out c
    expect_clean_failure
    expect_contains stderr "blobs/sha256/${chunk#sha256:}"
    expect_contains stderr "404"
    expect_no_spore c
}

test_remote_pull_without_a_digest_is_refused() {
    make_bundle
    serve_bundle no-digest
    run "$SPORE" pull "$SPOREVM_TEST_HTTP_URL/no-digest" --out c
    expect_status 125
    expect_contains stderr "must be pinned to the bundle digest"
    expect_no_spore c
}

test_http_pull_with_a_wrong_digest_is_refused() {
    make_bundle
    serve_bundle wrong-digest
    other="sha256:$(printf 'not this bundle' | sha256sum | cut -d' ' -f1)"
    run "$SPORE" pull "$SPOREVM_TEST_HTTP_URL/wrong-digest@$other" --out c
    expect_clean_failure
    expect_contains stderr "blobs/sha256/${other#sha256:}: 404"
    expect_no_spore c

    # A digest of another blob of the bundle: fetched, verified, not an index.
    run "$SPORE" pull "$SPOREVM_TEST_HTTP_URL/wrong-digest@$(chunk_digest parent 0)" --out c
    expect_clean_failure
    expect_contains stderr "index.json"
    expect_no_spore c
}

test_killed_pull_leaves_nothing_complete_and_the_rerun_reuses_verified_chunks() {
    "$MAKE_TEST_SPORE" parent --memory 256M --chunk-size 2M --stored 1
    digest="$("$SPORE" pack parent --out bundle 2>/dev/null)"
    serve_bundle killed
    # 128 chunks at about one a second per connection: killed well before the end.
    "$SPORE" pull "$SPOREVM_TEST_HTTP_SLOW_URL/killed@$digest" --out c --jobs 2 >/dev/null 2>pull.err &
    pid=$!
    tries=0
    until [ "$(find "$SPOREVM_CACHE/blobs" -type f ! -name '.*' 2>/dev/null | wc -l)" -ge 6 ]; do
        tries=$((tries + 1))
        [ $tries -lt 600 ] || fail "the pull cached nothing: $(cat pull.err)"
        sleep 0.05
    done
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    [ ! -e c ] || fail "a killed pull left c"
    [ ! -e c/manifest.json ] || fail "a killed pull left a manifest"

    run "$SPORE" pull "$SPOREVM_TEST_HTTP_URL/killed@$digest" --out c --json
    expect_status 0
    cached="$(json chunks_cached)"
    [ "$cached" -ge 3 ] || fail "the rerun took $cached chunks from the cache, want at least 3"
    [ "$(( $(json chunks_fetched) + cached ))" = 128 ] || fail "fetched and cached chunks do not add up to 128"
    expect_same_spore parent c
}

test_second_child_of_a_pulled_batch_transfers_only_its_manifests() {
    make_bundle
    serve_bundle second-child
    run "$SPORE" pull "$SPOREVM_TEST_HTTP_URL/second-child@$digest" --child 0 --out c0 --json
    expect_status 0
    run "$SPORE" pull "$SPOREVM_TEST_HTTP_URL/second-child@$digest" --child 1 --out c1 --json
    expect_status 0
    [ "$(json chunks_fetched)" = 0 ] || fail "the second child fetched $(json chunks_fetched) chunks"
    manifest="$(jq -r '.manifests[] | select(.annotations["org.sporevm.child"] == "000001") | .digest' bundle/index.json)"
    manifest_size="$(wc -c <"$(blob_of bundle "$manifest")")"
    spore_manifest="$(jq -r '.layers[0].digest' "$(blob_of bundle "$manifest")")"
    spore_manifest_size="$(wc -c <"$(blob_of bundle "$spore_manifest")")"
    want=$((manifest_size + spore_manifest_size))
    [ "$(json bytes_fetched)" = "$want" ] || fail "fetched $(json bytes_fetched) bytes, want $want (its two manifests)"
}
