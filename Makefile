PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: venv test demo bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

test: venv
	$(PY) -m pytest

demo: venv
	$(PY) examples/digits_mlp.py

bench: venv
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) build *.egg-info
