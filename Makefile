# Every target installs what it needs into a project-local virtual environment (.venv) on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch is pinned here (not in pyproject) so users elsewhere may bring their own build.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install browser test demo lint bench clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[dev,app]'
# facenet-pytorch (MTCNN for dkclip predict) pins torch<2.3 in its metadata but runs on ours: no deps
	$(PY) -m pip install -q --no-deps facenet-pytorch==2.6.0
	@touch $@

# dkclip app's browser test drives Debian's Chromium with Playwright (never a browser downloaded at run time, never
# `playwright install`): installed with apt-get when missing; where it cannot be, that one test is skipped.
CHROMIUM ?= /usr/bin/chromium

install: $(VENV)/.installed browser

browser:
	@test -x $(CHROMIUM) || { apt-get update -q && apt-get install -y -q chromium; } \
		|| echo "note: Chromium could not be installed with apt-get: the app's browser test will be skipped"

# The suite runs on every core (pytest-xdist; tests/conftest.py gives each worker its share of the threads).
# Tests are independent: each writes only under its own tmp_path, and ports are picked free.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -n auto --dist worksteal

demo: install
	$(PY) -m dkclip.cli demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install
	$(PY) benchmarks/model_speed.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
