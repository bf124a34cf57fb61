#!/usr/bin/env bash
# Python guests: the toolchain (componentize-py, ruff, mypy, pytest, pinned in
# guest-sdk/python/requirements-dev.txt), the SDK's checks and the build of a
# source project into a component. Everything lives in .toolchains/python/.
#
#   python.sh install               create the virtualenv, install the locked tools and the SDK
#   python.sh env                   print the export lines that put the toolchain on PATH
#   python.sh lint                  check-wit, ruff format --check, ruff check, mypy --strict
#   python.sh test                  pytest: the SDK, the conformance and throughput sources, the example,
#                                   the template (filled in as `weir new` would)
#   python.sh build SRC_DIR OUT     build one source project into a component
#   python.sh check-wit             the SDK's bundled contract is wit/source.wit
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLCHAIN="$ROOT/.toolchains/python"
VENV="$TOOLCHAIN/venv"
SDK="$ROOT/guest-sdk/python"
CONFIG="$SDK/pyproject.toml"
# Every Python project of this language: linted and type-checked one by one.
PROJECTS=(
    "$SDK"
    "$ROOT/example-sources/python/http-pages"
    "$ROOT/tests/conformance/python"
    "$ROOT/tests/throughput/python"
    "$ROOT/host/templates/python"
)
export RUFF_CACHE_DIR="$TOOLCHAIN/ruff-cache"
export PYTHONDONTWRITEBYTECODE=1

die() {
    echo "python.sh: $*" >&2
    exit 1
}

need_toolchain() {
    [[ -x "$VENV/bin/weir-guest" ]] || die "the toolchain is not installed; run: $0 install"
}

# A Python 3.11 or later with venv: $PYTHON, else python3, else Debian's.
host_python() {
    local candidate="${PYTHON:-python3}"
    if ! "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        command -v apt-get >/dev/null || die "$candidate is not Python 3.11+ with venv; set PYTHON"
        echo "python.sh: installing Debian's python3 and python3-venv" >&2
        apt-get install -y -q python3 python3-venv >&2 || die "apt-get could not install python3-venv"
        candidate=/usr/bin/python3
    fi
    echo "$candidate"
}

install() {
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$(host_python)" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
        -r "$SDK/requirements-dev.txt"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e "$SDK"
    rm -rf "$TOOLCHAIN/bindings"
    "$VENV/bin/weir-guest" bindings "$TOOLCHAIN/bindings" >/dev/null
    "$VENV/bin/python" --version
    "$VENV/bin/componentize-py" --version
    "$VENV/bin/ruff" --version
    "$VENV/bin/mypy" --version
    "$VENV/bin/pytest" --version
    "$VENV/bin/python" -m pip show weir-guest | sed -n 's/^Version: /weir-guest /p'
}

print_env() {
    echo "export PATH=\"$VENV/bin:\$PATH\""
    echo "export WEIR_SDK_PYTHON=\"$SDK\""
}

lint() {
    need_toolchain
    "$SDK/check-wit"
    "$VENV/bin/ruff" format --check --config "$CONFIG" "${PROJECTS[@]}"
    local project
    for project in "${PROJECTS[@]}"; do
        # Each project's own modules are first-party for the import order (the SDK's config says so for it).
        local first_party=(--config 'src = ["."]')
        [[ "$project" == "$SDK" ]] && first_party=()
        (cd "$project" && "$VENV/bin/ruff" check --config "$CONFIG" "${first_party[@]}" .)
        (cd "$project" && MYPYPATH="$TOOLCHAIN/bindings" "$VENV/bin/mypy" --config-file "$CONFIG" \
            --cache-dir "$TOOLCHAIN/mypy-cache" .)
    done
}

# pytest in each project (each has its own conftest), then one closing line
# with the totals.
test_all() {
    need_toolchain
    local scratch passed=0 failed=0 status=0 project log
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' RETURN
    template_instance "$scratch/template-check"
    log="$scratch/pytest.log"
    for project in "$SDK" "$ROOT/tests/conformance/python" "$ROOT/tests/throughput/python" \
        "$ROOT/example-sources/python/http-pages" "$scratch/template-check"; do
        (cd "$project" && "$VENV/bin/pytest" -q -p no:cacheprovider) | tee "$log" || status=1
        passed=$((passed + $(grep -oE '[0-9]+ passed' "$log" | grep -oE '[0-9]+' || echo 0)))
        failed=$((failed + $(grep -oE '[0-9]+ failed' "$log" | grep -oE '[0-9]+' || echo 0)))
    done
    echo "python: $passed passed, $failed failed"
    return "$status"
}

# The template as `weir new --lang python template-check` would write it.
template_instance() {
    local target="$1" file
    cp -r "$ROOT/host/templates/python" "$target"
    while IFS= read -r -d '' file; do
        sed -i -e "s/{{name}}/template-check/g" -e "s/{{name_snake}}/template_check/g" "$file"
    done < <(find "$target" -type f -print0)
}

build() {
    [[ $# -eq 2 ]] || die "usage: $0 build SRC_DIR OUT.wasm"
    need_toolchain
    "$VENV/bin/weir-guest" build "$1" -o "$2"
}

case "${1:-}" in
    install) install ;;
    env) print_env ;;
    lint) lint ;;
    test) test_all ;;
    build) shift && build "$@" ;;
    check-wit) "$SDK/check-wit" ;;
    *) die "usage: $0 install | env | lint | test | build SRC_DIR OUT.wasm | check-wit" ;;
esac
