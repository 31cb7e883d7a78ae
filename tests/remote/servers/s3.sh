# An S3 store on 127.0.0.1 that verifies SigV4 signatures: s3rver
# (tests/remote/servers/s3rver), installed by scripts/setup, with one
# bucket and a key pair made up at each start. Sourced by
# tests/remote/servers.sh.

start_s3() {
    local launcher_dir
    launcher_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/s3rver" && pwd)"
    local install="$SPOREVM_CACHE/npm/s3rver-4.0.4/node_modules/@20minutes/s3rver"
    [ -f "$install/lib/cli.js" ] || die "s3rver is not installed at $install: run scripts/setup"

    local port data log bucket=test-bucket
    port="$(free_port)"
    data="$SERVERS_DIR/s3-data"
    log="$SERVERS_DIR/s3.log"
    mkdir -p "$data"
    local access_key secret_key
    access_key="SPOREVMTEST$(openssl rand -hex 6 | tr a-f A-F)"
    secret_key="$(openssl rand -hex 20)"

    S3RVER_INSTALL="$install" S3_ACCESS_KEY="$access_key" S3_SECRET_KEY="$secret_key" \
        node "$launcher_dir/run-s3rver.js" -d "$data" -a 127.0.0.1 -p "$port" -s \
        --configure-bucket "$bucket" >"$log" 2>&1 &
    local pid=$!
    register_pid "$pid"

    wait_for_http "http://127.0.0.1:$port/" "$log"
    export_env SPOREVM_TEST_S3_ENDPOINT "http://127.0.0.1:$port"
    export_env SPOREVM_TEST_S3_BUCKET "$bucket"
    export_env SPOREVM_TEST_S3_ACCESS_KEY "$access_key"
    export_env SPOREVM_TEST_S3_SECRET_KEY "$secret_key"
    export_env SPOREVM_TEST_S3_DATA "$data"
}
