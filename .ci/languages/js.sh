#!/usr/bin/env bash
# TypeScript and JavaScript guests: install the pinned toolchain, lint, test
# the SDK, and build a source project into a component.
#
#   js.sh install            npm packages of guest-sdk/js (pinned by its
#                            package-lock.json) into .toolchains/js, the SDK built
#   js.sh env                `export` lines: WEIR_SDK_JS (the SDK's folder, for a
#                            template's BUILD) and PATH (weir-guest, tsc, eslint)
#   js.sh lint               prettier --check, eslint, tsc over the SDK, the
#                            example, the conformance and throughput sources, the templates
#   js.sh test               the SDK's unit tests and the conformance source's (node --test)
#   js.sh check-wit          the SDK's copy of wit/source.wit is the project's
#   js.sh build SRC OUT.wasm build one source project (a folder with src/index.ts or src/index.js)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SDK="$ROOT/guest-sdk/js"
TOOLS="$ROOT/.toolchains/js"
NODE_MAJOR_MIN=20
# Source projects in the repository, each with package.json, tsconfig.json and src/.
PROJECTS=(example-sources/typescript/http-pages tests/conformance/typescript tests/throughput/typescript)
TEMPLATES=(ts js)

die() {
    echo "js.sh: $*" >&2
    exit 1
}

npm_quiet() {
    npm --cache "$TOOLS/npm-cache" --no-audit --no-fund --loglevel=error "$@"
}

require_node() {
    command -v node >/dev/null || die "node is not installed; install Node.js $NODE_MAJOR_MIN or later (Debian: apt-get install nodejs npm)"
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    ((major >= NODE_MAJOR_MIN)) || die "node $(node --version) is too old; Node.js $NODE_MAJOR_MIN or later is needed"
}

require_installed() {
    [[ -x "$TOOLS/bin/weir-guest" && -d "$SDK/node_modules" && -f "$SDK/dist/cli/main.js" ]] ||
        die "the toolchain is not installed; run: $0 install"
}

# The SDK's dependencies live in .toolchains/js/sdk/node_modules; the SDK
# reaches them through a node_modules link, as Node resolves packages upward
# from each file. Reinstalled only when package-lock.json changed.
cmd_install() {
    require_node
    mkdir -p "$TOOLS/sdk" "$TOOLS/bin"
    if ! cmp -s "$SDK/package-lock.json" "$TOOLS/sdk/package-lock.json" || [[ ! -d "$TOOLS/sdk/node_modules" ]]; then
        cp "$SDK/package.json" "$SDK/package-lock.json" "$TOOLS/sdk/"
        (cd "$TOOLS/sdk" && npm_quiet ci --ignore-scripts)
    fi
    if [[ -d "$SDK/node_modules" && ! -L "$SDK/node_modules" ]]; then
        rm -rf "$SDK/node_modules" # an `npm install` of its own; the link replaces it
    fi
    ln -sfn "$TOOLS/sdk/node_modules" "$SDK/node_modules"
    (cd "$SDK" && node_modules/.bin/tsc -b)
    ln -sfn "$SDK/bin/weir-guest.js" "$TOOLS/bin/weir-guest"
    link_projects
    echo "node $(node --version), npm $(npm --version)"
    (cd "$SDK" && for package in componentize-qjs @bytecodealliance/componentize-js @bytecodealliance/jco esbuild typescript eslint prettier; do
        echo "$package $(node -p "require('./node_modules/$package/package.json').version")"
    done)
}

# Each repository project depends on `weir-guest` as `file:` the SDK; npm
# would link it the same way.
link_projects() {
    local project
    for project in "${PROJECTS[@]}"; do
        mkdir -p "$ROOT/$project/node_modules"
        ln -sfn "$SDK" "$ROOT/$project/node_modules/weir-guest"
    done
}

cmd_env() {
    echo "export WEIR_SDK_JS=\"$SDK\""
    echo "export PATH=\"$TOOLS/bin:$SDK/node_modules/.bin:\$PATH\""
}

cmd_lint() {
    require_installed
    local bin="$SDK/node_modules/.bin"
    SCRATCH=$(mktemp -d)
    trap 'rm -rf "$SCRATCH"' EXIT
    local scratch=$SCRATCH
    local -a dirs=("$SDK")
    local project template
    for project in "${PROJECTS[@]}"; do
        dirs+=("$ROOT/$project")
    done
    for template in "${TEMPLATES[@]}"; do
        instantiate_template "$template" "$scratch/$template" lint-sample
        dirs+=("$scratch/$template")
    done
    "$bin/prettier" --config "$SDK/.prettierrc.json" --ignore-path "$SDK/.prettierignore" --check "${dirs[@]}"
    (cd "$SDK" && "$bin/tsc" -b && "$bin/eslint" --max-warnings 0 . && node scripts/wit-types.mjs --check)
    local dir
    for dir in "${dirs[@]:1}"; do
        "$bin/tsc" -p "$dir" --noEmit
        (cd "$dir" && "$bin/eslint" --config "$SDK/eslint.config.js" --max-warnings 0 .)
    done
    cmd_check_wit
}

# A template copied to `dest` with its placeholders filled in, the SDK linked.
instantiate_template() {
    local template=$1 dest=$2 name=$3
    cp -r "$ROOT/host/templates/$template" "$dest"
    find "$dest" -type f -exec sed -i "s/{{name}}/$name/g; s/{{name_snake}}/${name//-/_}/g" {} +
    mkdir -p "$dest/node_modules"
    ln -sfn "$SDK" "$dest/node_modules/weir-guest"
}

# The SDK's unit tests, then the conformance source run natively (the cases
# `weir run` cannot reach: bad cursors, pushed events).
cmd_test() {
    require_installed
    (cd "$SDK" && node_modules/.bin/tsc -b)
    node --test "$SDK"/dist/test/*.test.js "$ROOT/tests/conformance/typescript/test/conformance.test.mjs"
}

cmd_check_wit() {
    require_node
    node "$SDK/scripts/check-wit.mjs"
}

cmd_build() {
    (($# == 2)) || die "usage: $0 build SRC_DIR OUT.wasm"
    require_installed
    local src out
    src=$(cd "$1" && pwd) || die "no such folder: $1"
    out=$(realpath -m "$2")
    node "$SDK/bin/weir-guest.js" build "$src" -o "$out"
}

main() {
    local command=${1:-}
    shift || true
    case "$command" in
        install) cmd_install "$@" ;;
        env) cmd_env "$@" ;;
        lint) cmd_lint "$@" ;;
        test) cmd_test "$@" ;;
        check-wit) cmd_check_wit "$@" ;;
        build) cmd_build "$@" ;;
        *) die "usage: $0 install|env|lint|test|check-wit|build SRC_DIR OUT.wasm" ;;
    esac
}

main "$@"
