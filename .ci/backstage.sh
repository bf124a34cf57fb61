#!/usr/bin/env bash
# CI entry point of the Backstage catalog module (integrations/backstage):
#
#   .ci/backstage.sh install        npm ci (versions pinned, lockfile committed)
#   .ci/backstage.sh lint           tsc --noEmit (strict) and ESLint
#   .ci/backstage.sh test           the tests against a real Backstage and a real weir serve
#   .ci/backstage.sh bench [N…]     the latency benchmark (default: 10000 entities)
#
# `test` and `bench` take the weir binary from $WEIR_BIN (default
# target/debug/weir) and the example components from $WEIR_GUESTS (default
# target/guests/wasm32-wasip2/release), both relative to the repository root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
package="$root/integrations/backstage"
export WEIR_BIN="${WEIR_BIN:-target/debug/weir}"
export WEIR_GUESTS="${WEIR_GUESTS:-target/guests/wasm32-wasip2/release}"
# The whole run's bound: a passing run takes about 100 s on a busy 2-core
# machine; a run that hangs or fails slowly (each wait in the tests gives up
# after 90 s at most) is stopped here and reported as such.
test_timeout="${WEIR_BACKSTAGE_TEST_TIMEOUT:-360}"

# shellcheck source=require.sh
source "$root/.ci/require.sh"

check_weir() {
    local bin guests
    bin=$(cd "$root" && realpath -m "$WEIR_BIN")
    guests=$(cd "$root" && realpath -m "$WEIR_GUESTS")
    [ -x "$bin" ] || fail "no weir binary at $bin: build it (cargo build -p weir) or set WEIR_BIN"
    for component in synthetic hierarchy plugin_pushing; do
        [ -f "$guests/$component.wasm" ] ||
            fail "no $component.wasm in $guests: build the guests (cargo test builds them) or set WEIR_GUESTS"
    done
}

install() {
    check_node
    # better-sqlite3 compiles from source here (its prebuilt download is not
    # reachable); node-gyp must use the installed Node headers, not download them.
    if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
        export npm_config_nodedir=/usr
    fi
    (cd "$package" && npm ci --no-audit --no-fund)
}

lint() {
    (cd "$package" && npm run --silent lint)
}

run_tests() {
    check_node
    check_weir
    # Under CI the replica test must run: PostgreSQL as in .ci/run.
    if [ -n "${CI:-}" ]; then
        export WEIR_TEST_POSTGRES_URL="${WEIR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
        if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
            pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
        fi
    fi
    local log status
    log=$(mktemp)
    set +e
    (cd "$package" && timeout --kill-after=10 "$test_timeout" npm test) 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    [ "$status" -ne 124 ] || echo "error: the tests took longer than ${test_timeout}s and were stopped" >&2
    awk '/^# pass / { p = $3 } /^# fail / { f = $3 } /^# skipped / { s = $3 }
         END { printf "backstage: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
    rm -f "$log"
    return "$status"
}

bench() {
    check_node
    check_weir
    (cd "$package" && npm run --silent bench -- "${@:-10000}")
}

step=${1:-}
[ -n "$step" ] || fail "usage: .ci/backstage.sh install|lint|test|bench [COUNT…]"
shift
started=$SECONDS
status=0
case "$step" in
    install) install || status=$? ;;
    lint) lint || status=$? ;;
    test) run_tests || status=$? ;;
    bench) bench "$@" || status=$? ;;
    *) fail "unknown step '$step': use install, lint, test or bench" ;;
esac
echo "backstage $step: $([ "$status" -eq 0 ] && echo done || echo "failed (exit $status)") in $((SECONDS - started))s"
exit "$status"
