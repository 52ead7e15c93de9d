# attnflow: the two commands a user needs are `make demo` and `make test`.
BUILD   ?= build
JOBS    ?= $(shell nproc)
PYTHON  ?= /usr/bin/python3
CMAKE_FLAGS ?=

.PHONY: all deps configure build demo test bench validation format clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE=$(PYTHON) \
	  -DATTNFLOW_WERROR=ON $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@$(BUILD)/bin/attnflow run experiments/demo_sphere_clustering.toml -o out/demo

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The papers' experiments at full size (tens of minutes on two cores), and docs/validation.md.
validation: build
	@$(BUILD)/bin/attnflow reproduce all -o out/reproduce --report docs/validation.md

bench: build
	@$(BUILD)/bin/attnflow_bench --benchmark_min_time=0.2

format:
	@find include src apps tests bench -name '*.hpp' -o -name '*.cpp' | xargs clang-format -i

clean:
	@rm -rf $(BUILD) out
