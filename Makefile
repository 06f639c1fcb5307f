# SoftmaxKit build, demo, tests and install.
#
#   make                 build the release library and run the demo
#   make test            run every test (Swift, C, Python, ABI agreement)
#   make install PREFIX=/usr/local
#   make CPU=x86-64-v3   choose the target CPU (default: native, as llama.cpp
#                        does for local builds; CPU=x86-64 is the portable,
#                        SSE2-only build for shipping to unknown machines)

CPU        ?= native
PREFIX     ?= /usr/local
SWIFT      ?= swift
CC         ?= cc
PYTHON     ?= python3
BUILD      := .build
LIB        := $(BUILD)/release/libsoftmaxkit.so
OUT        := $(BUILD)/smk-out
EXPORTS    := $(CURDIR)/Sources/SoftmaxKitABI/softmaxkit.map
# -static-stdlib: the .so needs only libc, libm and libstdc++ at run time.
# The version script exports smk_* and nothing else.
RELEASE_FLAGS := -c release -Xswiftc -static-stdlib \
                 -Xswiftc -target-cpu -Xswiftc $(CPU) \
                 -Xlinker --version-script=$(EXPORTS)
CFLAGS_STRICT := -std=c99 -Wall -Wextra -Werror -pedantic -O2 -Iinclude
CLINK         := -L$(BUILD)/release -lsoftmaxkit -Wl,-rpath,$(CURDIR)/$(BUILD)/release -lm

.PHONY: all lib demo test test-swift test-c test-python test-abi install clean bench

all: demo

lib: $(LIB)

$(LIB): Package.swift $(shell find Sources -name '*.swift' -o -name '*.map')
	$(SWIFT) build $(RELEASE_FLAGS) --product softmaxkit
	@touch $(LIB)

$(OUT):
	@mkdir -p $(OUT)

demo: $(LIB) | $(OUT)
	$(CC) $(CFLAGS_STRICT) examples/c/softmax_demo.c -o $(OUT)/softmax_demo $(CLINK)
	$(OUT)/softmax_demo
	PYTHONPATH=bindings/python $(PYTHON) examples/python/softmax_demo.py

test: test-swift test-c test-python test-abi
	@echo "make test: all suites passed"

test-swift:
	$(SWIFT) test

test-c: $(LIB) | $(OUT)
	@for t in Tests/c/test_*.c; do \
	  name=$$(basename $$t .c); \
	  $(CC) $(CFLAGS_STRICT) $$t -o $(OUT)/$$name $(CLINK) -lpthread || exit 1; \
	  echo "== $$name"; $(OUT)/$$name || exit 1; \
	done
	# The header compiles alone as C++ too.
	echo '#include "softmaxkit.h"' | c++ -x c++ -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude -fsyntax-only -

test-python: $(LIB)
	cd bindings/python && $(PYTHON) -m pytest -q tests

test-abi: $(LIB)
	$(PYTHON) Tests/abi/check_abi.py --library $(LIB) --header include/softmaxkit.h

bench: $(LIB)
	PYTHONPATH=bindings/python $(PYTHON) Benchmarks/bench_python.py

install: $(LIB)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libsoftmaxkit.so
	install -m 644 include/softmaxkit.h $(DESTDIR)$(PREFIX)/include/softmaxkit.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e "s|@VERSION@|$$(sed -n 's/^#define SMK_VERSION_STRING \"\(.*\)\"/\1/p' include/softmaxkit.h)|" \
	    softmaxkit.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/softmaxkit.pc

clean:
	rm -rf $(BUILD)

# Benchmarks (BENCHMARKS.md). Timing lives here only, never in the tests.
#   make bench-kernels [BENCH_ARGS="--seconds 0.5 --filter softmax"]
#   make bench-python  [BENCH_PYTHON=/path/to/venv/bin/python] [BENCH_ARGS=...]
# bench-python unsets OPENBLAS_CORETYPE/L2_SIZE for its own run only (they slow
# a current numpy; see its output for the OpenBLAS kernel it ran). It needs the peers (numpy, scipy, torch, jax, onnxruntime) only
# in the interpreter it runs; install them in a throwaway venv, never here.
BENCH_ARGS   ?=
BENCH_PYTHON ?= $(PYTHON)

.PHONY: bench-kernels bench-python

bench-kernels: $(LIB) | $(OUT)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Iinclude Benchmarks/kernels.c -o $(OUT)/bench_kernels $(CLINK) -ldl
	$(OUT)/bench_kernels $(BENCH_ARGS)

bench-python: $(LIB)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=bindings/python $(BENCH_PYTHON) Benchmarks/bench_python.py $(BENCH_ARGS)
