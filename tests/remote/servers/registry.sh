# OCI distribution registries (Debian's docker-registry 2.8.2), sourced by
# tests/remote/servers.sh: one plain HTTP without auth, one TLS with
# htpasswd Basic auth, and one plain HTTP that wants bearer tokens from
# token-server.js.

# Writes a registry config: FILE PORT STORAGE, then YAML for the http
# section's extras and for auth, each already indented.
write_registry_config() {
    local file="$1" port="$2" storage="$3" http_extra="$4" auth="$5"
    cat >"$file" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: sporevm-test-registry-secret
$http_extra
$auth
EOF
}

# Starts docker-registry on CONFIG, logging to LOG, and records its PID.
run_registry() {
    local config="$1" log="$2"
    docker-registry serve "$config" >"$log" 2>&1 &
    register_pid $!
}

start_plain_registry() {
    local dir="$1" port
    port="$(free_port)"
    mkdir -p "$dir/plain/storage"
    write_registry_config "$dir/plain/config.yml" "$port" "$dir/plain/storage" "" ""
    run_registry "$dir/plain/config.yml" "$dir/plain/log"
    wait_for_http "http://127.0.0.1:$port/v2/" "$dir/plain/log"
    export_env SPOREVM_TEST_REGISTRY "127.0.0.1:$port"
    export_env SPOREVM_TEST_REGISTRY_STORAGE "$dir/plain/storage"
}

start_tls_registry() {
    local dir="$1" ca="$SERVERS_DIR/ca" port username=tls-user password
    port="$(free_port)"
    password="$(openssl rand -hex 12)"
    mkdir -p "$dir/tls/storage"
    htpasswd -Bbn "$username" "$password" >"$dir/tls/htpasswd" 2>/dev/null
    write_registry_config "$dir/tls/config.yml" "$port" "$dir/tls/storage" \
        "  tls:
    certificate: $ca/server.pem
    key: $ca/server.key.pem" \
        "auth:
  htpasswd:
    realm: sporevm-test-registry
    path: $dir/tls/htpasswd"
    run_registry "$dir/tls/config.yml" "$dir/tls/log"
    wait_for_http "https://127.0.0.1:$port/v2/" "$dir/tls/log" --cacert "$ca/ca.pem"
    export_env SPOREVM_TEST_REGISTRY_TLS "127.0.0.1:$port"
    export_env SPOREVM_TEST_REGISTRY_TLS_USERNAME "$username"
    export_env SPOREVM_TEST_REGISTRY_TLS_PASSWORD "$password"
}

# The certificate the token server signs with, issued by the test CA.
make_token_signing_certificate() {
    local dir="$1" ca="$SERVERS_DIR/ca"
    openssl req -newkey rsa:2048 -nodes -keyout "$dir/signing.key.pem" -out "$dir/signing.csr" \
        -subj "/CN=sporevm-test-token-issuer" 2>/dev/null
    printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature' \
        >"$dir/signing.ext"
    openssl x509 -req -in "$dir/signing.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca.key.pem" \
        -CAcreateserial -days 825 -extfile "$dir/signing.ext" -out "$dir/signing.pem" 2>/dev/null
}

start_token_registry() {
    local dir="$1" here port token_port username=pusher password
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    port="$(free_port)"
    token_port="$(free_port)"
    password="$(openssl rand -hex 12)"
    mkdir -p "$dir/token/storage"
    make_token_signing_certificate "$dir/token"

    TOKEN_USERNAME="$username" TOKEN_PASSWORD="$password" node "$here/token-server.js" \
        "$token_port" "$dir/token/signing.key.pem" "$dir/token/signing.pem" \
        test-token-issuer test-registry >"$dir/token/token-server.log" 2>&1 &
    register_pid $!
    write_registry_config "$dir/token/config.yml" "$port" "$dir/token/storage" "" \
        "auth:
  token:
    realm: http://127.0.0.1:$token_port/token
    service: test-registry
    issuer: test-token-issuer
    rootcertbundle: $SERVERS_DIR/ca/ca.pem"
    run_registry "$dir/token/config.yml" "$dir/token/log"
    wait_for_http "http://127.0.0.1:$token_port/token" "$dir/token/token-server.log"
    wait_for_http "http://127.0.0.1:$port/v2/" "$dir/token/log"
    export_env SPOREVM_TEST_REGISTRY_TOKEN "127.0.0.1:$port"
    export_env SPOREVM_TEST_REGISTRY_TOKEN_USERNAME "$username"
    export_env SPOREVM_TEST_REGISTRY_TOKEN_PASSWORD "$password"
}

start_registry() {
    local dir="$SERVERS_DIR/registry"
    mkdir -p "$dir"
    start_plain_registry "$dir"
    start_tls_registry "$dir"
    start_token_registry "$dir"
}
