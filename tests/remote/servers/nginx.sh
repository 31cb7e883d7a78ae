# nginx serving one web root on 127.0.0.1: plain HTTP, HTTPS with HTTP/2
# (certificate from the test CA), a prefix that answers every request with
# a redirect, and a rate-limited view for interrupting transfers. nginx
# sends the first second's worth of a rate-limited response at once, so
# the rate is set well below a 2 MiB chunk a second: each chunk then takes
# about a second to arrive. Sourced by tests/remote/servers.sh.

start_nginx() {
    local prefix="$SERVERS_DIR/nginx"
    local root="$SERVERS_DIR/http-root"
    local http_port https_port
    http_port="$(free_port)"
    https_port="$(free_port)"
    mkdir -p "$prefix/temp" "$root"

    write_nginx_config "$prefix" "$root" "$http_port" "$https_port"
    nginx -p "$prefix" -c nginx.conf -e "$prefix/error.log" >"$prefix/console.log" 2>&1 &
    local pid=$!
    register_pid "$pid"

    local http_url="http://127.0.0.1:$http_port"
    local https_url="https://127.0.0.1:$https_port"
    wait_for_http "$http_url/" "$prefix/error.log"
    wait_for_http "$https_url/" "$prefix/error.log" --cacert "$SERVERS_DIR/ca/ca.pem"
    export_env SPOREVM_TEST_HTTP_URL "$http_url"
    export_env SPOREVM_TEST_HTTPS_URL "$https_url"
    export_env SPOREVM_TEST_HTTP_ROOT "$root"
    export_env SPOREVM_TEST_HTTP_REDIRECT_URL "$http_url/redirect"
    export_env SPOREVM_TEST_HTTP_SLOW_URL "$http_url/slow"
}

# write_nginx_config PREFIX ROOT HTTP_PORT HTTPS_PORT
write_nginx_config() {
    local prefix="$1" root="$2" http_port="$3" https_port="$4"
    local ca="$SERVERS_DIR/ca"
    # Workers run as the caller, so they can read what the tests write
    # even when the caller is root (nginx ignores "user" otherwise).
    cat >"$prefix/nginx.conf" <<CONFIG
daemon off;
user $(id -un) $(id -gn);
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;

events {
    worker_connections 512;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $prefix/access.log;
    client_body_temp_path $prefix/temp/body;
    proxy_temp_path $prefix/temp/proxy;
    fastcgi_temp_path $prefix/temp/fastcgi;
    uwsgi_temp_path $prefix/temp/uwsgi;
    scgi_temp_path $prefix/temp/scgi;
    sendfile on;
    keepalive_timeout 60s;
    keepalive_requests 10000;

    server {
        listen 127.0.0.1:$http_port;
        listen 127.0.0.1:$https_port ssl http2;
        ssl_certificate $ca/server.pem;
        ssl_certificate_key $ca/server.key.pem;
        root $root;

        location ~ ^/redirect/(.*)\$ {
            return 302 http://127.0.0.1:$http_port/\$1\$is_args\$args;
        }
        location /slow/ {
            alias $root/;
            limit_rate 1m;
        }
    }
}
CONFIG
}
