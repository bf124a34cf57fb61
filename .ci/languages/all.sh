#!/usr/bin/env bash
# CI for every guest language but Rust: for Python, TypeScript/JavaScript
# and C in turn, `install` (the pinned toolchain into .toolchains/), `lint`
# and `test` with that language's script in this folder, each step timed;
# for C also `check-bindings` (the committed guest-sdk/c/gen/ is what the
# generator makes of the WIT: about 2 minutes the first time, as it compiles
# the generator).
# Then the host's tests that build and run every language's components
# (`conformance::`, `new::` in `cargo test`) find every toolchain installed;
# run them with WEIR_REQUIRE_LANGUAGES=1 so that a missing one fails instead
# of being skipped.
#
#   all.sh                 install, lint and test every language
#   all.sh python c        only these (python, js, c)
#
# Exits non-zero at the first failing step, naming it. Ends with one line
# per language: the seconds each step took.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LANGUAGES=(python js c)

if (($# > 0)); then
    for language in "$@"; do
        [[ -x "$HERE/$language.sh" && "$language" != all ]] || {
            echo "all.sh: no language $language (one of: ${LANGUAGES[*]})" >&2
            exit 2
        }
    done
    LANGUAGES=("$@")
fi

summary=()
for language in "${LANGUAGES[@]}"; do
    line="$language:"
    steps=(install lint test)
    [[ "$language" == c ]] && steps=(install lint check-bindings test)
    for step in "${steps[@]}"; do
        echo "== .ci/languages/$language.sh $step"
        started=$SECONDS
        if ! "$HERE/$language.sh" "$step"; then
            echo "all.sh: .ci/languages/$language.sh $step failed" >&2
            exit 1
        fi
        line+=" $step $((SECONDS - started)) s"
    done
    summary+=("$line")
done
echo "== every language installed, linted and tested"
printf '%s\n' "${summary[@]}"
