#!/usr/bin/env bash
# The status page of `weir serve`, tested in a real browser:
#
#   .ci/browser.sh install   Debian's chromium (pinned where apt still has the
#                            version), then npm ci in tests/browser (pinned,
#                            lockfile committed: playwright-core, axe-core)
#   .ci/browser.sh lint      tsc --noEmit (strict) and ESLint on the test code
#   .ci/browser.sh test      the tests against a real weir serve on loopback,
#                            bounded in time; screenshots in target/screenshots/
#
# `test` takes the weir binary from $WEIR_BIN (default target/debug/weir) and
# the components from $WEIR_GUESTS (default target/guests/wasm32-wasip2/release,
# built by `cargo test -p weir --test all --no-run`), both relative to the
# repository root; the browser from $WEIR_CHROMIUM (default Debian's).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
package="$root/tests/browser"
export WEIR_BIN="${WEIR_BIN:-target/debug/weir}"
export WEIR_GUESTS="${WEIR_GUESTS:-target/guests/wasm32-wasip2/release}"
# The version the tests were last run with. Debian replaces a version with
# its security updates, so an older one may be gone from the archive: then
# the archive's current one is installed, and said.
chromium_version="${WEIR_CHROMIUM_VERSION:-156.0.8078.129-1~deb12u1}"
# The whole test run's bound (the browser, the server, every test).
test_timeout="${WEIR_BROWSER_TEST_TIMEOUT:-420}"

# shellcheck source=require.sh
source "$root/.ci/require.sh"

install_chromium() {
    if [ "$(dpkg-query -W -f='${Status} ${Version}' chromium 2>/dev/null)" = "install ok installed $chromium_version" ]; then
        echo "chromium $chromium_version is installed"
        return
    fi
    command -v apt-get >/dev/null || fail "apt-get not found: install Chromium by hand and set WEIR_CHROMIUM"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    # (Not `| grep -q`: with pipefail, grep's early exit fails the pipeline.)
    local versions
    versions=$(apt-cache madison chromium)
    if grep -qF " $chromium_version " <<<"$versions"; then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "chromium=$chromium_version" "chromium-common=$chromium_version" fonts-dejavu-core
    else
        echo "warning: chromium $chromium_version is no longer in the archive; installing its current version" >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
    fi
    dpkg-query -W -f='installed chromium ${Version}\n' chromium
}

install() {
    check_node
    install_chromium
    (cd "$package" && npm ci --no-audit --no-fund)
}

lint() {
    check_node
    [ -d "$package/node_modules" ] || fail "tests/browser has no node_modules: run .ci/browser.sh install"
    (cd "$package" && npm run --silent lint)
}

run_tests() {
    check_node
    [ -d "$package/node_modules" ] || fail "tests/browser has no node_modules: run .ci/browser.sh install"
    local bin
    bin=$(cd "$root" && realpath -m "$WEIR_BIN")
    [ -x "$bin" ] || fail "no weir binary at $bin: build it (cargo build -p weir) or set WEIR_BIN"
    export WEIR_BIN="$bin"
    export WEIR_GUESTS
    WEIR_GUESTS=$(cd "$root" && realpath -m "$WEIR_GUESTS")
    # This run's screenshots only.
    mkdir -p "$root/target/screenshots"
    rm -f "$root"/target/screenshots/*.png
    local log status
    log=$(mktemp)
    set +e
    (cd "$package" && timeout --kill-after=10 "$test_timeout" npm test) 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    [ "$status" -ne 124 ] || echo "error: the browser tests took longer than ${test_timeout}s and were stopped" >&2
    awk '/^# pass / { p = $3 } /^# fail / { f = $3 } /^# skipped / { s = $3 }
         END { printf "browser: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
    echo "screenshots: $(cd "$root" && ls target/screenshots/*.png 2>/dev/null | tr '\n' ' ')"
    rm -f "$log"
    return "$status"
}

step=${1:-}
[ -n "$step" ] || fail "usage: .ci/browser.sh install|lint|test"
shift
started=$SECONDS
status=0
case "$step" in
    install) install || status=$? ;;
    lint) lint || status=$? ;;
    test) run_tests || status=$? ;;
    *) fail "unknown step '$step': use install, lint or test" ;;
esac
echo "browser $step: $([ "$status" -eq 0 ] && echo done || echo "failed (exit $status)") in $((SECONDS - started))s"
exit "$status"
