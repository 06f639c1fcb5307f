# SoftmaxKit build, demo, tests and install.
#
#   make                 build the release library and run the demo
#   make test            run every test (Swift, C, Python, ABI agreement)
#   make install PREFIX=/usr/local
#   make CPU=x86-64-v3   choose the target CPU (default: native, as llama.cpp
#                        does for local builds; CPU=x86-64 is the portable,
#                        SSE2-only build for shipping to unknown machines).
#                        FMA=0/1 overrides whether fused multiply-adds are used.

CPU        ?= native
# Fused multiply-add in the SIMD kernels: on when the target CPU has FMA.
ifeq ($(CPU),native)
FMA        ?= $(shell grep -qw fma /proc/cpuinfo 2>/dev/null && echo 1 || echo 0)
else ifneq ($(filter x86-64-v3 x86-64-v4 haswell skylake% icelake% sapphirerapids znver%,$(CPU)),)
FMA        ?= 1
else
FMA        ?= 0
endif
# Without AVX-512 (16 vector registers of at most 256 bits) the model
# matrix product uses smaller register tiles (-DSMK_SIMD256).
ifeq ($(CPU),native)
SIMD256    ?= $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo 0 || echo 1)
else ifneq ($(filter x86-64-v4 skylake-avx512 cascadelake cooperlake icelake% tigerlake sapphirerapids znver4 znver5,$(CPU)),)
SIMD256    ?= 0
else
SIMD256    ?= 1
endif
PREFIX     ?= /usr/local
SWIFT      ?= swift
CC         ?= cc
PYTHON     ?= python3
BUILD      := .build
LIB        := $(BUILD)/release/libsoftmaxkit.so
OUT        := $(BUILD)/smk-out
EXPORTS    := $(CURDIR)/Sources/SoftmaxKitABI/softmaxkit.map
# -static-stdlib: the .so needs only libc, libm and libstdc++ at run time.
# The version script exports smk_* and nothing else; lld (shipped with the
# toolchain) also drops the demoted Swift symbols from .dynsym, where gold
# keeps them as local entries.
RELEASE_FLAGS := -c release -Xswiftc -static-stdlib -Xswiftc -use-ld=lld \
                 -Xswiftc -target-cpu -Xswiftc $(CPU) \
                 $(if $(filter 1,$(FMA)),-Xswiftc -DSMK_FMA) \
                 $(if $(filter 1,$(SIMD256)),-Xswiftc -DSMK_SIMD256) \
                 -Xlinker --version-script=$(EXPORTS)
CFLAGS_STRICT := -std=c99 -Wall -Wextra -Werror -pedantic -O2 -Iinclude -D_POSIX_C_SOURCE=200809L
CLINK         := -L$(BUILD)/release -lsoftmaxkit -Wl,-rpath,$(CURDIR)/$(BUILD)/release -lm

.PHONY: all lib demo model-demo bench-models models test test-swift test-c test-python test-abi install clean bench python-deps

all: demo

lib: $(LIB)

$(LIB): Package.swift $(shell find Sources -name '*.swift' -o -name '*.map')
	$(SWIFT) build $(RELEASE_FLAGS) --product softmaxkit
	@touch $(LIB)

$(OUT):
	@mkdir -p $(OUT)

# numpy for the binding, scipy/pytest/hypothesis for its tests: installed
# with pip only when missing.
python-deps:
	@$(PYTHON) -c "import numpy, scipy, pytest, hypothesis" 2>/dev/null || \
	  $(PYTHON) -m pip install --quiet -r bindings/python/requirements-test.txt

demo: $(LIB) python-deps | $(OUT)
	$(CC) $(CFLAGS_STRICT) examples/c/softmax_demo.c -o $(OUT)/softmax_demo $(CLINK)
	$(OUT)/softmax_demo
	PYTHONPATH=bindings/python $(PYTHON) examples/python/softmax_demo.py
	$(SWIFT) build $(RELEASE_FLAGS) --product softmax-demo
	$(BUILD)/release/softmax-demo

# The seed networks end to end (bundled examples/models/*.safetensors) from
# C, Python and Swift.
model-demo: $(LIB) python-deps | $(OUT)
	$(CC) $(CFLAGS_STRICT) examples/c/model_demo.c -o $(OUT)/model_demo $(CLINK)
	$(OUT)/model_demo
	PYTHONPATH=bindings/python $(PYTHON) examples/python/model_demo.py
	$(SWIFT) build $(RELEASE_FLAGS) --product model-demo
	$(BUILD)/release/model-demo

# Regenerates the bundled model files (numpy, fixed seeds).
models:
	$(PYTHON) examples/make_models.py

# Forward passes of the seed networks vs numpy (and PyTorch when installed),
# from Python and from C.
bench-models: $(LIB) | $(OUT)
	$(CC) $(CFLAGS_STRICT) Benchmarks/bench_model_c.c -o $(OUT)/bench_model_c $(CLINK)
	$(OUT)/bench_model_c examples/models/robot_arm.safetensors
	PYTHONPATH=bindings/python $(PYTHON) Benchmarks/bench_models.py

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

test-python: $(LIB) python-deps
	cd bindings/python && $(PYTHON) -m pytest -q tests

test-abi: $(LIB) python-deps
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
