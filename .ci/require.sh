# What the Node.js suite scripts (browser.sh, backstage.sh) require of the
# machine before they run, and how they stop when it is missing. Sourced.

fail() {
    echo "error: $*" >&2
    exit 1
}

check_node() {
    command -v node >/dev/null || fail "node is not installed (Node.js 20 or later is needed)"
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    [ "$major" -ge 20 ] || fail "Node.js $major found; 20 or later is needed"
}
