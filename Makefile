# The front door.  Every target installs what is missing first (Debian
# packages via scripts/install-deps, the face models via scripts/fetch-models),
# so each works on a fresh Debian 12 machine.
#
#   make              build (build/)
#   make test         build and run every test twice: normal, then ASan+UBSan
#   make demo         set up and run the demo
#   make bench        run every benchmark; make bench-NAME runs bench/NAME
#   make clean        remove the build folders

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=
BENCHES := $(patsubst bench/%/run,%,$(wildcard bench/*/run))

export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

.PHONY: all deps models build test test-normal test-asan demo bench clean $(addprefix bench-,$(BENCHES))

all: build

deps:
	@scripts/install-deps

models: deps
	@scripts/fetch-models

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCUSTOS_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test-normal: build models
	@echo "== tests: normal build ($(BUILD)) =="
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan models
	@echo "== tests: AddressSanitizer + UndefinedBehaviorSanitizer build ($(ASAN_BUILD)) =="
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

# Both suites run even when the first fails; the exit status is the worse.
test: build build-asan models
	@rc=0; $(MAKE) --no-print-directory test-normal || rc=1; \
	$(MAKE) --no-print-directory test-asan || rc=1; exit $$rc

demo: build models
	@scripts/demo $(BUILD)/custos

bench: $(addprefix bench-,$(BENCHES))

$(addprefix bench-,$(BENCHES)): bench-%: build models
	@bench/$*/run $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
