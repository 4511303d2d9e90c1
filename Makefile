PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: venv system-deps lint test demo examples bench onnx-suite docs-images clean

venv: $(VENV)/.installed

# pip's output goes to $(VENV)/install.log, shown only when the install fails, so `make demo`
# prints the demo.
$(VENV)/.installed: pyproject.toml
	@echo "setting up $(VENV): graphc (editable) and its dev tools; log in $(VENV)/install.log"
	@$(PYTHON) -m venv $(VENV)
	@{ $(PY) -m pip install --upgrade pip && $(PY) -m pip install -e '.[dev]'; } \
	  > $(VENV)/install.log 2>&1 || { tail -n 40 $(VENV)/install.log; \
	  echo "make venv: pip failed; the whole log is $(VENV)/install.log"; exit 1; }
	@touch $@

# pytest-xdist spreads the tests over every core (the suite is CPU-bound: native compiles).
test: venv system-deps lint
	$(PY) -m pytest -n auto

lint: venv
	$(VENV)/bin/ruff check .

# Graphviz's `dot` renders SVG/PNG/PDF; installed where we can (root with apt-get), otherwise
# the rendering tests skip and say why.
system-deps:
	@command -v dot >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) \
	  || echo "graphviz not installed: rendering tests will skip"; }

demo: venv
	@$(PY) examples/digits_mlp.py

EXAMPLES := xor digits_mlp perceptron knn_digits linear_classifiers optimizers_digits \
	lenet_digits lstm_sequence autoencoder gan_2d tiny_transformer visualize

examples: venv
	@for e in $(EXAMPLES); do echo "== examples/$$e.py"; $(PY) examples/$$e.py || exit 1; done

# `make bench BENCH_FLAGS="--only W4 --quick"`; peers that are not installed are skipped.
BENCH_FLAGS ?=

bench: venv
	$(PY) -m benchmarks.run $(BENCH_FLAGS)

# The peers, into .venv only (never core dependencies): the CPU build of torch that the machine
# image ships as a wheel file (pip's default torch pulls gigabytes of CUDA), and JAX for the CPU.
bench-peers: venv
	@wheel=$$(find / -path /proc -prune -o -name 'torch-*+cpu-*.whl' -print 2>/dev/null \
	  | sort | tail -n 1); \
	if [ -n "$$wheel" ]; then echo "installing $$wheel"; $(PY) -m pip install --quiet "$$wheel"; \
	else echo "no CPU torch wheel (torch-*+cpu-*.whl) on this machine: torch will be skipped"; fi
	$(PY) -m pip install --quiet 'jax[cpu]'

# onnx's backend conformance suite against every graphc backend (minutes; not part of `test`,
# which runs a fixed subset of it).
onnx-suite: venv
	$(PY) -m frontends.onnx.suite

# The pictures README.md shows, drawn by graphc's renderer (needs Graphviz's `dot`).
docs-images: venv system-deps
	$(PY) docs/images/make_images.py

clean:
	rm -rf $(VENV) build *.egg-info
