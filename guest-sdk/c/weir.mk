# weir.mk: builds a Weir source written in C into a component.
#
# A source project's Makefile sets NAME and includes this file:
#
#     NAME = my-source
#     include $(WEIR_SDK_C)/weir.mk
#
# `make` then compiles the project's C files (SOURCES, default *.c and
# src/*.c but native tests, test_*.c) and the SDK for wasm32-wasi, links a reactor module, and turns it
# into the component NAME.wasm with the WASI preview1 reactor adapter. The
# toolchain is what `.ci/languages/c.sh install` puts in .toolchains/c/:
# Debian's clang, lld and wasi-libc, jco (for `component new`) and the adapter.
#
# Variables (set on the command line or before the include):
#   NAME          the output's name (NAME.wasm)            required
#   OUT           the component to write                   NAME.wasm
#   SOURCES       the project's C files                    *.c src/*.c but test_*.c
#   BUILD_DIR     where objects and the core module go     build
#   CFLAGS        extra compiler flags                     (none)
#   EXTRA_OBJECTS wasm32 objects built elsewhere (Zig, C++)  (none)
#   LDFLAGS       extra link flags and libraries            (none)
#   WEIR_SDK_C    this SDK's folder                        this file's folder
#   WEIR_C_TOOLCHAIN  the installed toolchain              <repo>/.toolchains/c

WEIR_SDK_C := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
WEIR_C_TOOLCHAIN ?= $(abspath $(WEIR_SDK_C)/../../.toolchains/c)

ifndef NAME
$(error weir.mk: set NAME, the source's name (the output is NAME.wasm))
endif

OUT ?= $(NAME).wasm
SOURCES ?= $(filter-out test_%.c src/test_%.c,$(wildcard *.c src/*.c))
BUILD_DIR ?= build

WASM_CC ?= clang
WASM_AR ?= llvm-ar
JCO ?= $(WEIR_C_TOOLCHAIN)/npm/node_modules/.bin/jco
ADAPTER ?= $(WEIR_C_TOOLCHAIN)/adapter/wasi_snapshot_preview1.reactor.wasm

WEIR_TARGET_FLAGS = --target=wasm32-wasi
WEIR_CFLAGS = $(WEIR_TARGET_FLAGS) -O2 -std=c11 -Wall -Wextra -I$(WEIR_SDK_C)/include
# The generated bindings are compiled as generated; their warnings are not ours.
WEIR_GEN_CFLAGS = $(WEIR_TARGET_FLAGS) -O2 -w -I$(WEIR_SDK_C)/gen
# The SDK copies entity text around: with bulk memory each memcpy is one
# `memory.copy`. (clang 14 then wants a TLS model; the SDK uses no TLS, not even
# errno, so local-exec is never exercised.)
WEIR_SDK_CFLAGS = $(WEIR_CFLAGS) -Werror -mbulk-memory -ftls-model=local-exec \
                  -I$(WEIR_SDK_C)/gen -I$(WEIR_SDK_C)/src

WEIR_SDK_NAMES = text error format json_write json_read entity page push_event http_request http export
WEIR_SDK_OBJECTS = $(WEIR_SDK_NAMES:%=$(BUILD_DIR)/weir-sdk/%.o) $(BUILD_DIR)/weir-sdk/weir_bindings.o
WEIR_PUSH_ARCHIVE = $(BUILD_DIR)/weir-sdk/libweir_push.a
WEIR_PUSH_MEMBERS = $(BUILD_DIR)/weir-sdk/push.o $(BUILD_DIR)/weir-sdk/weir_push_bindings.o \
                    $(BUILD_DIR)/weir-sdk/weir_push_bindings_component_type.o
WEIR_HEADERS = $(WEIR_SDK_C)/include/weir.h $(WEIR_SDK_C)/src/internal.h
SOURCE_OBJECTS = $(SOURCES:%.c=$(BUILD_DIR)/source/%.o) $(EXTRA_OBJECTS)
CORE_MODULE = $(BUILD_DIR)/$(NAME).core.wasm

.PHONY: all clean weir-toolchain-check
.DEFAULT_GOAL := all

all: $(OUT)

weir-toolchain-check:
	@command -v $(WASM_CC) >/dev/null || { echo "weir.mk: $(WASM_CC) not found: run .ci/languages/c.sh install (Debian clang, lld, wasi-libc)" >&2; exit 1; }
	@test -x "$(JCO)" || { echo "weir.mk: jco not found at $(JCO): run .ci/languages/c.sh install, or set WEIR_C_TOOLCHAIN" >&2; exit 1; }
	@test -f "$(ADAPTER)" || { echo "weir.mk: the WASI reactor adapter is not at $(ADAPTER): run .ci/languages/c.sh install, or set WEIR_C_TOOLCHAIN" >&2; exit 1; }
	@test -n "$(SOURCES)$(EXTRA_OBJECTS)" || { echo "weir.mk: nothing to build: no C files (SOURCES) and no EXTRA_OBJECTS" >&2; exit 1; }

$(BUILD_DIR)/source/%.o: %.c $(WEIR_SDK_C)/include/weir.h | weir-toolchain-check
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WEIR_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD_DIR)/weir-sdk/%.o: $(WEIR_SDK_C)/src/%.c $(WEIR_HEADERS) | weir-toolchain-check
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WEIR_SDK_CFLAGS) -c $< -o $@

$(BUILD_DIR)/weir-sdk/%.o: $(WEIR_SDK_C)/gen/%.c | weir-toolchain-check
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WEIR_GEN_CFLAGS) -c $< -o $@

$(BUILD_DIR)/weir-sdk/weir_push_bindings_component_type.o: $(WEIR_SDK_C)/gen/weir_push_bindings_component_type.o
	@mkdir -p $(dir $@)
	cp $< $@

# Only a source that uses WEIR_EXPORT_PUSH pulls these members in, and so
# exports `push`.
$(WEIR_PUSH_ARCHIVE): $(WEIR_PUSH_MEMBERS)
	rm -f $@
	$(WASM_AR) rcs $@ $^

$(CORE_MODULE): $(SOURCE_OBJECTS) $(WEIR_SDK_OBJECTS) $(WEIR_PUSH_ARCHIVE)
	$(WASM_CC) $(WEIR_TARGET_FLAGS) -mexec-model=reactor -O2 -Wl,--strip-debug -o $@ $(SOURCE_OBJECTS) $(WEIR_SDK_OBJECTS) \
		$(WEIR_SDK_C)/gen/weir_bindings_component_type.o $(WEIR_PUSH_ARCHIVE) $(LDFLAGS)

$(OUT): $(CORE_MODULE)
	$(JCO) new $< --adapt wasi_snapshot_preview1=$(ADAPTER) -o $@

clean:
	rm -rf $(BUILD_DIR) $(OUT)
