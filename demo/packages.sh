# Sourced by the demo scripts: `need_packages PKG...` installs the Debian packages among
# PKG that are not installed yet (apt-get, refreshing the package lists once if needed).
need_packages() {
    missing=
    for pkg in "$@"; do
        dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' \
            || missing="$missing $pkg"
    done
    [ -n "$missing" ] || return 0
    if ! command -v apt-get >/dev/null; then
        echo "demo: please install$missing (no apt-get here to do it)" >&2
        exit 1
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "demo: run as root, or install$missing first" >&2
        exit 1
    fi
    echo "demo: installing$missing" >&2
    # shellcheck disable=SC2086 # one word a package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; }
}
