#!/usr/bin/env bash
# .ci/languages/c.sh: the C guest language's toolchain, checks and builds.
#
#   c.sh install             install the pinned toolchain into .toolchains/c/ (idempotent)
#   c.sh env                 print the `export` lines that put the toolchain on PATH
#   c.sh lint                clang-format check, then compile everything with -Wall -Wextra -Werror
#   c.sh test                native unit tests: the SDK's and the conformance source's (ASan, UBSan)
#   c.sh build SRC OUT.wasm  build the C source project in SRC into the component OUT.wasm
#   c.sh check-wit           fail when the SDK's copy of the contract differs from wit/source.wit
#   c.sh gen-bindings        regenerate guest-sdk/c/gen/ (needs cargo; see tools/gen-bindings)
#   c.sh check-bindings      fail when guest-sdk/c/gen/ differs from freshly generated bindings
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SDK="$ROOT/guest-sdk/c"
TOOLCHAIN="$ROOT/.toolchains/c"

# Debian bookworm's packages, pinned to the versions this was checked with
# (installed without their recommendations, so each one needed is named).
APT_PACKAGES=(
    "clang=1:14.0-55.7~deb12u1"
    "lld=1:14.0-55.7~deb12u1"
    "llvm-14=1:14.0.6-12"
    "clang-format=1:14.0-55.7~deb12u1"
    "wasi-libc=0.0~git20220510.9886d3d-2"
    "libclang-rt-14-dev-wasm32=1:14.0.6-12"
    "libclang-rt-14-dev=1:14.0.6-12" # AddressSanitizer and UBSan for the native tests
)
# wasmtime 48.0.8's WASI preview1 reactor adapter, from its crate on crates.io.
ADAPTER_CRATE="wasi-preview1-component-adapter-provider-48.0.8"
ADAPTER_URL="https://static.crates.io/crates/wasi-preview1-component-adapter-provider/$ADAPTER_CRATE.crate"
ADAPTER_CRATE_SHA256="d3a1674fffec103c1d4367d4417a3bd5423cde3cfd56ff3b326b5fc72c0a8ebd"
ADAPTER_SHA256="134b86dc09c6b62077f2307b96fa8b83b94dc86737bc705ac3dbe27cb107b1f9"
ADAPTER="$TOOLCHAIN/adapter/wasi_snapshot_preview1.reactor.wasm"
JCO="$TOOLCHAIN/npm/node_modules/.bin/jco"

# The C files the formatter checks as they are (the generated bindings aside,
# and the template, whose placeholders are not C: it is checked filled in).
c_files() {
    find "$SDK/include" "$SDK/src" "$SDK/tests" "$SDK/testing" "$ROOT/example-sources/c" \
        "$ROOT/tests/conformance/c" "$ROOT/tests/throughput/c" \
        -name build -prune -o \( -name '*.c' -o -name '*.h' \) -print | sort
}

# The source projects lint compiles for wasm32 (the template is checked apart).
source_projects() {
    echo "$ROOT/example-sources/c/generator" "$ROOT/tests/conformance/c" "$ROOT/tests/throughput/c"
}

apt_installed() {
    local spec name version
    for spec in "${APT_PACKAGES[@]}"; do
        name="${spec%%=*}"
        version="${spec#*=}"
        [ "$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)" = "$version" ] || return 1
    done
}

install_apt() {
    if apt_installed; then
        return
    fi
    echo "c.sh: installing Debian packages: ${APT_PACKAGES[*]}"
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        sudo=(sudo)
    fi
    local install=(apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300)
    if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" "${install[@]}" "${APT_PACKAGES[@]}"; then
        echo "c.sh: apt-get install failed; refreshing the package lists once and retrying"
        "${sudo[@]}" apt-get update -o DPkg::Lock::Timeout=300
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" "${install[@]}" "${APT_PACKAGES[@]}"
    fi
}

install_jco() {
    local npm_dir="$TOOLCHAIN/npm"
    if [ -x "$JCO" ] && cmp -s "$SDK/tools/package-lock.json" "$npm_dir/package-lock.json"; then
        return
    fi
    echo "c.sh: installing jco from guest-sdk/c/tools/package-lock.json"
    rm -rf "$npm_dir"
    mkdir -p "$npm_dir"
    cp "$SDK/tools/package.json" "$SDK/tools/package-lock.json" "$npm_dir/"
    (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
}

sha256_of() {
    sha256sum "$1" | cut -d' ' -f1
}

install_adapter() (
    if [ -f "$ADAPTER" ] && [ "$(sha256_of "$ADAPTER")" = "$ADAPTER_SHA256" ]; then
        exit 0
    fi
    echo "c.sh: fetching the WASI reactor adapter from the crate $ADAPTER_CRATE"
    local work
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    curl --fail --silent --show-error --location --retry 3 -o "$work/adapter.crate" "$ADAPTER_URL"
    if [ "$(sha256_of "$work/adapter.crate")" != "$ADAPTER_CRATE_SHA256" ]; then
        echo "c.sh: $ADAPTER_URL does not have the pinned SHA-256 $ADAPTER_CRATE_SHA256" >&2
        exit 1
    fi
    tar -xzf "$work/adapter.crate" -C "$work" "$ADAPTER_CRATE/artefacts/wasi_snapshot_preview1.reactor.wasm"
    mkdir -p "$(dirname "$ADAPTER")"
    cp "$work/$ADAPTER_CRATE/artefacts/wasi_snapshot_preview1.reactor.wasm" "$ADAPTER"
    if [ "$(sha256_of "$ADAPTER")" != "$ADAPTER_SHA256" ]; then
        echo "c.sh: the adapter in $ADAPTER_CRATE does not have the pinned SHA-256" >&2
        exit 1
    fi
)

print_versions() {
    echo "clang:        $(clang --version | head -n1)"
    echo "wasm-ld:      $(wasm-ld --version | head -n1)"
    echo "clang-format: $(clang-format --version | head -n1)"
    echo "wasi-libc:    $(dpkg-query -W -f='${Version}' wasi-libc)"
    echo "jco:          $("$JCO" --version)"
    echo "adapter:      $ADAPTER_CRATE reactor, sha256 $(sha256_of "$ADAPTER")"
}

cmd_install() {
    install_apt
    install_jco
    install_adapter
    print_versions
}

cmd_env() {
    echo "export PATH=\"$TOOLCHAIN/npm/node_modules/.bin:\$PATH\""
    echo "export WEIR_C_TOOLCHAIN=\"$TOOLCHAIN\""
    echo "export WEIR_SDK_C=\"$SDK\""
}

require_toolchain() {
    if ! command -v clang >/dev/null || [ ! -x "$JCO" ] || [ ! -f "$ADAPTER" ]; then
        echo "c.sh: the C toolchain is not installed; run: $0 install" >&2
        exit 1
    fi
}

WASM_LINT_FLAGS=(--target=wasm32-wasi -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only)
NATIVE_LINT_FLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only)

# Compile every source file of `project` for wasm32 (its native tests,
# test_*.c, natively), with the SDK's warnings and no output.
compile_check_project() {
    local project="$1" file
    for file in "$project"/*.c; do
        case "$(basename "$file")" in
        test_*.c) clang "${NATIVE_LINT_FLAGS[@]}" -I"$SDK/include" -I"$SDK/testing" \
            -I"$SDK/tests" "$file" ;;
        *) clang "${WASM_LINT_FLAGS[@]}" -I"$SDK/include" "$file" ;;
        esac
    done
}

# The template with its placeholders filled in, in a fresh folder; prints it.
instantiate_template() {
    local name="$1" dir
    dir="$(mktemp -d)/$name"
    mkdir -p "$dir"
    cp -r "$ROOT/host/templates/c/." "$dir/"
    local snake="${name//-/_}"
    find "$dir" -type f -exec sed -i -e "s/{{name}}/$name/g" -e "s/{{name_snake}}/$snake/g" {} +
    echo "$dir"
}

cmd_lint() {
    require_toolchain
    echo "c.sh lint: clang-format"
    c_files | xargs clang-format --style=file:"$SDK/.clang-format" --dry-run -Werror
    echo "c.sh lint: the SDK (wasm32, -Wall -Wextra -Wpedantic -Werror)"
    local file
    for file in "$SDK"/src/*.c; do
        clang "${WASM_LINT_FLAGS[@]}" -I"$SDK/include" -I"$SDK/src" -I"$SDK/gen" "$file"
    done
    echo "c.sh lint: the SDK's tests and weir_testing (native)"
    for file in "$SDK"/tests/*.c "$SDK"/testing/*.c; do
        clang "${NATIVE_LINT_FLAGS[@]}" -I"$SDK/include" -I"$SDK/src" -I"$SDK/testing" \
            -I"$SDK/tests" "$file"
    done
    local project
    for project in $(source_projects); do
        echo "c.sh lint: ${project#"$ROOT"/}"
        compile_check_project "$project"
    done
    echo "c.sh lint: host/templates/c (filled in as my-source)"
    local template
    template="$(instantiate_template my-source)"
    clang-format --style=file:"$SDK/.clang-format" --dry-run -Werror "$template"/*.c
    compile_check_project "$template"
    rm -rf "$(dirname "$template")"
    cmd_check_wit
}

# The SDK's portable files: what native tests link (the rest needs the bindings).
PORTABLE_SOURCES=(text error format json_write json_read entity page push_event http_request)

# Compile `binary` natively from the given C files with the SDK's portable
# files and weir_testing.c, under AddressSanitizer and UBSan.
compile_native_tests() {
    local binary="$1" name
    shift
    local portable=()
    for name in "${PORTABLE_SOURCES[@]}"; do
        portable+=("$SDK/src/$name.c")
    done
    clang -std=c11 -g -O1 -Wall -Wextra -Werror -fsanitize=address,undefined \
        -fno-sanitize-recover=all -I"$SDK/include" -I"$SDK/src" -I"$SDK/testing" -I"$SDK/tests" \
        "$@" "$SDK/testing/weir_testing.c" "${portable[@]}" -lm -o "$binary"
}

cmd_test() (
    local out
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
    compile_native_tests "$out/sdk-tests" "$SDK"/tests/*.c
    compile_native_tests "$out/conformance-tests" "$SDK/tests/check.c" \
        "$ROOT/tests/conformance/c/test_conformance.c" "$ROOT/tests/conformance/c/conformance.c"
    local status=0 log="$out/log"
    "$out/sdk-tests" | tee "$log" || status=1
    "$out/conformance-tests" | tee -a "$log" || status=1
    awk -F'[ :,]+' '/: [0-9]+ passed, [0-9]+ failed$/ { p += $(NF-3); f += $(NF-1) }
        END { printf "c: %d passed, %d failed\n", p, f }' "$log"
    exit "$status"
)

cmd_build() (
    if [ $# -ne 2 ]; then
        echo "usage: $0 build SRC_DIR OUT.wasm" >&2
        exit 2
    fi
    require_toolchain
    local src out
    src="$(cd "$1" && pwd)"
    out="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
    if [ ! -f "$src/Makefile" ]; then
        echo "c.sh build: $src has no Makefile (one that sets NAME and includes \$(WEIR_SDK_C)/weir.mk)" >&2
        exit 1
    fi
    local build_dir
    build_dir="$(mktemp -d)"
    trap 'rm -rf "$build_dir"' EXIT
    WEIR_SDK_C="$SDK" WEIR_C_TOOLCHAIN="$TOOLCHAIN" \
        make --no-print-directory -C "$src" OUT="$out" BUILD_DIR="$build_dir" || {
        echo "c.sh build: building $src failed (the failing command is printed above)" >&2
        exit 1
    }
    echo "c.sh build: $out ($(stat -c %s "$out") bytes)"
)

cmd_check_wit() {
    if ! diff -u "$ROOT/wit/source.wit" "$SDK/wit/deps/weir-source.wit"; then
        echo "c.sh check-wit: guest-sdk/c/wit/deps/weir-source.wit differs from wit/source.wit:" \
            "copy it over, then run: $0 check-bindings (and gen-bindings if that fails)" >&2
        exit 1
    fi
    echo "c.sh check-wit: guest-sdk/c/wit/deps/weir-source.wit matches wit/source.wit"
}

# Run the bindings generator (tools/gen-bindings) into `out`.
generate_bindings() {
    local out="$1"
    local target="${CARGO_TARGET_DIR:-$TOOLCHAIN/gen-bindings-target}"
    # A debug build: the generator's run takes milliseconds either way, and
    # a debug build compiles in half the time.
    CARGO_TARGET_DIR="$target" nice -n 19 cargo run --quiet --locked -j1 \
        --manifest-path "$SDK/tools/gen-bindings/Cargo.toml" -- "$SDK/wit" "$out"
}

cmd_gen_bindings() {
    generate_bindings "$SDK/gen"
    echo "c.sh gen-bindings: wrote $SDK/gen"
}

cmd_check_bindings() (
    local out
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
    generate_bindings "$out"
    if ! diff -r "$out" "$SDK/gen"; then
        echo "c.sh check-bindings: guest-sdk/c/gen/ is out of date: run $0 gen-bindings" >&2
        exit 1
    fi
    echo "c.sh check-bindings: guest-sdk/c/gen/ matches the generator's output"
)

main() {
    local command="${1:-}"
    shift || true
    case "$command" in
    install) cmd_install ;;
    env) cmd_env ;;
    lint) cmd_lint ;;
    test) cmd_test ;;
    build) cmd_build "$@" ;;
    check-wit) cmd_check_wit ;;
    gen-bindings) cmd_gen_bindings ;;
    check-bindings) cmd_check_bindings ;;
    *)
        sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
    esac
}

main "$@"
