# Helpers for the remote test cases, on top of tests/lab/lib.sh.

# make_bundle: a 16 MiB spore (half its chunks stored) in ./parent, a fork
# batch of 4 in ./batch, both packed into ./bundle; the digest in $digest.
make_bundle() {
    "$MAKE_TEST_SPORE" parent --memory 16M --chunk-size 2M --stored 0.5 --seed "${1:-1}"
    "$SPORE" fork parent --count 4 --out batch >/dev/null
    digest="$("$SPORE" pack parent --children batch --out bundle 2>/dev/null)"
    case "$digest" in sha256:*) ;; *) fail "pack printed [$digest], want a digest" ;; esac
}

# blob_of BUNDLE DIGEST: the path of a blob in a bundle directory.
blob_of() { echo "$1/blobs/sha256/${2#sha256:}"; }

# chunk_digest SPORE N: the digest of the Nth stored chunk of a spore.
chunk_digest() {
    jq -r "[.memory.chunks[] | select(. != null)][$2]" "$1/manifest.json"
}

# json FIELD: a field of the JSON object in ./stdout.
json() { jq -r ".$1" stdout; }

# expect_no_spore PATH: nothing at PATH and no staging directory beside it.
expect_no_spore() {
    [ ! -e "$1" ] || fail "$1 exists"
    local leftovers
    leftovers="$(find "$(dirname "$1")" -maxdepth 1 -name ".$(basename "$1").staging-*" | head -n1)"
    [ -z "$leftovers" ] || fail "staging directory left behind: $leftovers"
}

# expect_same_spore A B: the two spores have identical manifests, and B verifies.
expect_same_spore() {
    cmp -s "$1/manifest.json" "$2/manifest.json" || fail "$2/manifest.json differs from $1/manifest.json"
    "$SPORE" inspect "$2" >/dev/null 2>inspect.err || fail "inspect $2: $(cat inspect.err)"
}

# serve_bundle NAME: copies ./bundle under the web root as NAME; prints its URL path.
serve_bundle() {
    rm -rf "$SPOREVM_TEST_HTTP_ROOT/$1"
    cp -r bundle "$SPOREVM_TEST_HTTP_ROOT/$1"
    chmod -R u+w "$SPOREVM_TEST_HTTP_ROOT/$1"
}
