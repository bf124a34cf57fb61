#!/usr/bin/env bash
# Build every throughput source where `weir bench languages` looks for it by
# default: the Rust ones with cargo (target/wasm32-wasip2/release/), the
# others into target/throughput/ with each language's toolchain (install it
# first: .ci/languages/{c,python,js}.sh install).
#
#   tests/throughput/build.sh            all of them
#   tests/throughput/build.sh c python   some: rust, c, python, typescript, typescript-starlingmonkey
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/target/throughput"
HERE="$ROOT/tests/throughput"

build() {
    case "$1" in
        rust) (cd "$ROOT" && cargo build --release --target wasm32-wasip2 -p throughput-rust -p synthetic) ;;
        c) "$ROOT/.ci/languages/c.sh" build "$HERE/c" "$OUT/c.wasm" ;;
        python) "$ROOT/.ci/languages/python.sh" build "$HERE/python" "$OUT/python.wasm" ;;
        typescript) "$ROOT/.ci/languages/js.sh" build "$HERE/typescript" "$OUT/typescript.wasm" ;;
        typescript-starlingmonkey)
            node "$ROOT/guest-sdk/js/bin/weir-guest.js" build "$HERE/typescript" \
                -o "$OUT/typescript-starlingmonkey.wasm" --engine starlingmonkey
            ;;
        *)
            echo "build.sh: unknown language $1 (rust, c, python, typescript, typescript-starlingmonkey)" >&2
            exit 1
            ;;
    esac
}

mkdir -p "$OUT"
if (($# == 0)); then
    set -- rust c python typescript typescript-starlingmonkey
fi
for language in "$@"; do
    build "$language"
done
