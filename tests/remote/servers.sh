#!/usr/bin/env bash
# Usage: tests/remote/servers.sh start|stop DIR
#
# Starts, or stops, the real servers the remote tests talk to, all on
# loopback: nginx (HTTP and HTTPS with a test CA), an S3 store that checks
# SigV4 signatures, and OCI distribution registries (plain HTTP, TLS with
# Basic auth, bearer tokens). Each servers/NAME.sh defines start_NAME.
# start writes DIR/servers.env, KEY=VALUE lines the tests read (see
# tests/remote/README.md); stop kills every process start recorded.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../scripts/common.sh"

[ $# = 2 ] || die "usage: $0 start|stop DIR"
action="$1"
SERVERS_DIR="$2"

stop_all() {
    local pid
    [ -f "$SERVERS_DIR/pids" ] || return 0
    while read -r pid; do
        kill "$pid" 2>/dev/null || true
    done <"$SERVERS_DIR/pids"
    rm -f "$SERVERS_DIR/pids"
}

# Records a KEY=VALUE line for the tests.
export_env() { echo "$1=$2" >>"$SERVERS_DIR/servers.env"; }
# Records a process to stop.
register_pid() { echo "$1" >>"$SERVERS_DIR/pids"; }

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

# Waits until curl gets any HTTP answer from URL (extra curl arguments
# after it), or fails after about 10 s naming LOG.
wait_for_http() {
    local url="$1" log="$2"
    shift 2
    for _ in $(seq 1 200); do
        if curl -s -o /dev/null "$@" "$url"; then return 0; fi
        sleep 0.05
    done
    cat "$log" >&2 || true
    die "server at $url did not start (log: $log)"
}

# A test CA and a server certificate for localhost and 127.0.0.1.
make_certificates() {
    local ca="$SERVERS_DIR/ca"
    mkdir -p "$ca"
    (
        cd "$ca"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key.pem -out ca.pem -days 3650 \
            -subj "/CN=SporeVM Test CA" -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout server.key.pem -out server.csr \
            -subj "/CN=localhost" 2>/dev/null
        printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1' 'basicConstraints=CA:FALSE' \
            'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key.pem -CAcreateserial -days 825 \
            -extfile server.ext -out server.pem 2>/dev/null
    )
    export_env SPOREVM_TEST_CA "$ca/ca.pem"
}

case "$action" in
    start)
        stop_all
        rm -rf "$SERVERS_DIR"
        mkdir -p "$SERVERS_DIR"
        : >"$SERVERS_DIR/servers.env"
        trap 'stop_all' ERR
        make_certificates
        for file in "$here"/servers/*.sh; do
            source "$file"
            name="$(basename "$file" .sh)"
            "start_$name"
        done
        ;;
    stop)
        stop_all
        ;;
    *) die "usage: $0 start|stop DIR" ;;
esac
