# Shared helpers for the project's scripts. Source it; do not run it.

SPOREVM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPOREVM_CACHE="${SPOREVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sporevm}"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
note() { [ -n "${SPOREVM_QUIET:-}" ] || echo "$(basename "$0"): $*" >&2; }

# sha256 of stdin, hex only.
sha256_stdin() { sha256sum | cut -d' ' -f1; }

# Publishes directory $1 as $2 atomically: callers build into a staging
# directory beside the target, then rename it into place.
publish_dir() {
    local staging="$1" target="$2"
    sync -f "$staging" 2>/dev/null || true
    rm -rf "$target.old"
    [ -e "$target" ] && mv "$target" "$target.old"
    mv "$staging" "$target"
    rm -rf "$target.old"
}

# The arm64 package that provides the newest Debian cloud kernel.
cloud_kernel_package() {
    apt-cache depends linux-image-cloud-arm64:arm64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-arm64\).*/\1/p' | head -n1
}
