# prefixd — top-level wrapper. `make run` and `make test` work on a fresh Debian 12 machine.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
ARGS       ?=

.PHONY: all deps configure build test run bench bench-micro bench-transport bench-phases clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# Every test: unit tests beside the code and end-to-end tests against the real daemon.
test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j 2

# The daemon in the foreground with the embedded defaults (127.0.0.1:50051, ./var/prefixd).
run: build
	$(BUILD)/bin/prefixd $(ARGS)

# The standard benchmark suite (under 30 minutes here): every tier, every workload, the disk's
# ceiling; writes docs/benchmarks.md and docs/img/*.png. QUICK=1 checks the pipeline in ~1 min.
bench: build
	@bash scripts/install-deps.sh bench
	bash bench/suite.sh

# The first benchmark alone: a throwaway daemon, 1 MiB pages, and the disk's ceiling beside it.
bench-micro: build
	bash bench/run_micro.sh

# gRPC over TCP and a unix socket against shared memory, by page size (~5 min).
bench-transport: build
	bash bench/run_transport.sh

# The controller off, on and pinned to each profile on the phases workload (~7 min; REPEAT=3
# for the medians in docs/controller.md, ~21 min).
bench-phases: build
	@bash scripts/install-deps.sh bench
	bash bench/run_phases.sh

clean:
	rm -rf $(BUILD)
