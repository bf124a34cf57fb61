#!/usr/bin/env bash
# Contract fuzzing of the HTTP API with schemathesis (tests/schemathesis):
#
#   .ci/schemathesis.sh install     the pinned schemathesis and ruff, in .toolchains/schemathesis
#   .ci/schemathesis.sh lint        ruff check and ruff format --check of tests/schemathesis
#   .ci/schemathesis.sh run [--max-examples N] [--seconds S] [--seed N] [-- ST_ARGS…]
#
# `run` starts `weir serve` twice (its own temporary folder, SQLite file,
# plugins folder and loopback port each) and runs `st run` with every check
# against the OpenAPI document each serves, in four configurations:
#
#   open          a server without any token (loopback), requests without one
#   no-token      a server with an admin token, a read token and
#                 readAccess = "token"; requests without a token
#   read-token    the same server; requests carry the read token
#   admin-token   the same server; requests carry the admin token
#
# Every phase runs (examples, coverage, fuzzing, stateful/links). The default
# budget is the CI one (--max-examples 50: about 1.5 minutes in all on two
# busy cores, each configuration stopped at 90 s); --seconds S
# makes each configuration fuzz for S seconds instead (--max-time), and
# --max-examples N sets the examples per operation (and per round of
# --seconds). ST_ARGS go to every `st run` as they are (e.g. --include-path).
#
# The weir binary is $WEIR_BIN (default target/debug/weir), the example
# components come from $WEIR_GUESTS (default target/guests/wasm32-wasip2/release),
# both relative to the repository root; compiled plugins are cached in
# $WEIR_CACHE_DIR (default /tmp/weir-cache). Logs and reports go to
# $WEIR_SCHEMATHESIS_OUT (default target/schemathesis), emptied first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
suite="$root/tests/schemathesis"
venv="$root/.toolchains/schemathesis"
python="${PYTHON:-python3.11}"
export WEIR_BIN="${WEIR_BIN:-target/debug/weir}"
export WEIR_GUESTS="${WEIR_GUESTS:-target/guests/wasm32-wasip2/release}"
cache_dir="${WEIR_CACHE_DIR:-/tmp/weir-cache}"
out="${WEIR_SCHEMATHESIS_OUT:-$root/target/schemathesis}"
# The CI budget: examples per operation, and each configuration's bound.
default_examples=50
default_timeout=90
# How long a server may take to answer /readyz and ingest its sources.
start_timeout=90

fail() {
    echo "error: $*" >&2
    exit 1
}

# --- install ------------------------------------------------------------------

# The requirements' hash, with the interpreter's version: what an installed
# venv is stamped with, so `install` is a no-op when nothing changed.
install_stamp() {
    {
        "$python" --version 2>&1
        cat "$suite/requirements.txt"
    } | sha256sum | cut -d' ' -f1
}

install() {
    command -v "$python" >/dev/null || fail "$python is not installed (Python 3.11 is needed; or set PYTHON)"
    local stamp
    stamp=$(install_stamp)
    if [ -x "$venv/bin/st" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$stamp" ]; then
        echo "schemathesis: already installed in $venv ($("$venv/bin/st" --version))"
        return 0
    fi
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
    # Every package pinned with its hashes, wheels only: nothing is built here.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --require-hashes --no-deps --only-binary :all: -r "$suite/requirements.txt"
    echo "$stamp" >"$venv/.stamp"
    echo "schemathesis: installed in $venv ($("$venv/bin/st" --version), $("$venv/bin/ruff" --version))"
}

check_installed() {
    [ -x "$venv/bin/st" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$(install_stamp)" ] ||
        fail "schemathesis is not installed, or not as tests/schemathesis/requirements.txt pins it: run .ci/schemathesis.sh install"
}

# --- lint ---------------------------------------------------------------------

lint() {
    check_installed
    # ruff keeps its cache in the toolchain, not in the work tree.
    (cd "$suite" && export RUFF_CACHE_DIR="$venv/ruff-cache" &&
        "$venv/bin/ruff" check . && "$venv/bin/ruff" format --check .)
    bash -n "$0"
    if command -v shellcheck >/dev/null; then shellcheck "$0"; fi
}

# --- run ----------------------------------------------------------------------

work=""
pids=()
st_pid=""
tee_pid=""

# Stops every server this script started (by its pid), and removes their
# folders; the logs stay in $out.
cleanup() {
    local pid waited
    if [ -n "$st_pid" ]; then
        kill -TERM "$st_pid" 2>/dev/null || true
        wait "$st_pid" 2>/dev/null || true
        st_pid=""
    fi
    if [ -n "$tee_pid" ]; then
        wait "$tee_pid" 2>/dev/null || true
        tee_pid=""
    fi
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "warning: weir serve (pid $pid) ignored SIGTERM for 10s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    if [ -n "$work" ]; then rm -rf "$work"; fi
}

free_port() {
    "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

check_weir() {
    bin=$(cd "$root" && realpath -m "$WEIR_BIN")
    guests=$(cd "$root" && realpath -m "$WEIR_GUESTS")
    [ -x "$bin" ] || fail "no weir binary at $bin: build it (cargo build -p weir) or set WEIR_BIN"
    for component in synthetic hierarchy plugin_pushing; do
        [ -f "$guests/$component.wasm" ] ||
            fail "no $component.wasm in $guests: build the guests (\`cargo test --no-run\` builds them: tests/build.rs) or set WEIR_GUESTS"
    done
}

# start_weir NAME CONFIG [VAR=VALUE…]: starts `weir serve` in its own folder
# with the settings file CONFIG and the given environment (and no other WEIR_
# variable), waits until it is ready and has ingested its three sources, and
# sets $url.
start_weir() {
    local name=$1 config=$2
    shift 2
    local dir="$work/$name" port log="$out/weir-$name.log"
    mkdir -p "$dir/plugins"
    # A plugin's file is named after its provider name.
    cp "$guests/synthetic.wasm" "$guests/hierarchy.wasm" "$dir/plugins/"
    cp "$guests/plugin_pushing.wasm" "$dir/plugins/pushing.wasm"
    port=$(free_port)
    url="http://127.0.0.1:$port"
    (
        cd "$dir"
        exec env -u WEIR_ADMIN_TOKEN -u WEIR_DATABASE_URL -u WEIR_PLUGINS -u WEIR_LISTEN "$@" \
            "$bin" serve --config "$config" --database "sqlite://$dir/weir.db" \
            --plugins "$dir/plugins" --listen "127.0.0.1:$port" --cache-dir "$cache_dir"
    ) >"$log" 2>&1 &
    pids+=("$!")
    local pid=$! deadline=$((SECONDS + start_timeout)) token=""
    local arg
    for arg in "$@"; do
        case "$arg" in WEIR_ADMIN_TOKEN=*) token=${arg#WEIR_ADMIN_TOKEN=} ;; esac
    done
    local auth=()
    if [ -n "$token" ]; then auth=(-H "Authorization: Bearer $token"); fi
    until curl -sf --max-time 5 "${auth[@]}" "$url/api/catalog/incremental/providers" 2>/dev/null |
        "$venv/bin/python" -c '
import json, sys
try:
    sources = json.load(sys.stdin)["sources"]
except (ValueError, KeyError):
    sys.exit(1)
ready = {s["name"] for s in sources if s["cycle"] >= 1 and s["phase"] == "resting"}
sys.exit(0 if ready >= {"synthetic", "hierarchy", "pushing"} else 1)'; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$log" >&2
            fail "weir serve ($name) exited before it was ready; its log: $log"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 20 "$log" >&2
            fail "weir serve ($name) was not ready with its three sources ingested within ${start_timeout}s; its log: $log"
        fi
        sleep 0.5
    done
    echo "weir serve ($name): ready at $url (pid $pid, log $log)"
}

# fuzz NAME [HEADER]: one `st run` against $url; records "NAME:EXIT:REPORT".
fuzz() {
    local name=$1 header=${2:-}
    local report="$out/$name.json" status
    # Every check runs: tests/schemathesis/schemathesis.toml enables them all
    # (`--checks all` here would override its per-operation settings).
    local args=(--max-examples "$examples" --no-color
        --report json,junit --report-json-path "$report" --report-junit-path "$out/$name.xml")
    if [ -n "$seconds" ]; then args+=(--max-time "$seconds"); fi
    if [ -n "$seed" ]; then args+=(--seed "$seed"); fi
    if [ -n "$header" ]; then args+=(-H "$header"); fi
    echo
    echo "=== schemathesis: $name ($url, at most ${bound}s) ==="
    # In the background, so that an interrupt reaches the traps at once (and
    # cleanup stops it); `st` runs in the work folder, where it keeps its
    # caches, under `timeout`, which stops it and its children. Its output
    # goes to the terminal and to $out/NAME.log.
    local fifo="$work/$name.output"
    mkfifo "$fifo"
    tee "$out/$name.log" <"$fifo" &
    tee_pid=$!
    timeout --kill-after=10 "$bound" env -C "$work" SCHEMATHESIS_HOOKS="$suite/hooks.py" \
        "$venv/bin/st" --config-file "$suite/schemathesis.toml" run "$url/api/openapi.json" \
        "${args[@]}" "${st_args[@]}" >"$fifo" 2>&1 &
    st_pid=$!
    status=0
    wait "$st_pid" || status=$?
    st_pid=""
    wait "$tee_pid" || true
    tee_pid=""
    rm -f "$fifo"
    [ "$status" -ne 124 ] || echo "error: schemathesis ($name) took longer than ${bound}s and was stopped" >&2
    results+=("$name:$status:$report")
}

random_token() {
    echo "$1-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
}

run() {
    examples=$default_examples
    seconds=""
    seed=""
    st_args=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --max-examples) examples=${2:?--max-examples needs a number}; shift 2 ;;
            --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
            --seed) seed=${2:?--seed needs a number}; shift 2 ;;
            --) shift; st_args=("$@"); break ;;
            *) fail "unknown option '$1' of run: use --max-examples N, --seconds S, --seed N, -- ST_ARGS…" ;;
        esac
    done
    [[ "$examples" =~ ^[1-9][0-9]*$ ]] || fail "--max-examples must be a positive integer, not '$examples'"
    [[ -z "$seconds" || "$seconds" =~ ^[1-9][0-9]*$ ]] || fail "--seconds must be a positive integer, not '$seconds'"
    # Each configuration's bound: the CI default, or the asked time plus a margin
    # for the phases that do not repeat and for shrinking.
    if [ -n "$seconds" ]; then bound=$((seconds + 180)); else bound=${WEIR_SCHEMATHESIS_TIMEOUT:-$default_timeout}; fi
    check_installed
    check_weir
    command -v curl >/dev/null || fail "curl is not installed"
    rm -rf "$out"
    mkdir -p "$out" "$cache_dir"
    work=$(mktemp -d "${TMPDIR:-/tmp}/weir-schemathesis.XXXXXX")
    results=()
    echo "weir: $bin ($("$bin" --version)); $("$venv/bin/st" --version); ${examples} examples per operation${seconds:+, ${seconds}s per configuration}"

    start_weir open "$suite/weir-open.toml"
    fuzz open
    cleanup
    work=$(mktemp -d "${TMPDIR:-/tmp}/weir-schemathesis.XXXXXX")

    local admin read push
    admin=$(random_token admin)
    read=$(random_token read)
    push=$(random_token push)
    start_weir tokens "$suite/weir-tokens.toml" \
        "WEIR_ADMIN_TOKEN=$admin" "WEIR_READ_TOKEN=$read" "WEIR_PUSH_TOKEN=$push"
    fuzz no-token
    fuzz read-token "Authorization: Bearer $read"
    fuzz admin-token "Authorization: Bearer $admin"
    cleanup

    echo
    "$venv/bin/python" "$suite/summarize.py" "${results[@]}"
}

step=${1:-}
[ -n "$step" ] || fail "usage: .ci/schemathesis.sh install|lint|run [--max-examples N] [--seconds S] [--seed N] [-- ST_ARGS…]"
shift
started=$SECONDS
# However the step ends (done, failed, interrupted), the servers it started
# are stopped, and one closing line says how it went.
finish() {
    local status=$?
    trap - EXIT
    cleanup
    echo "schemathesis $step: $([ "$status" -eq 0 ] && echo done || echo "failed (exit $status)") in $((SECONDS - started))s"
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
case "$step" in
    install) install ;;
    lint) lint ;;
    run) run "$@" ;;
    *) fail "unknown step '$step': use install, lint or run" ;;
esac
