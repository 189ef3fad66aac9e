# Two commands: `make run` (the app on the built-in demo catalog) and `make test`.
# Both create .venv and install the package (pyproject.toml, editable, with the `mmrec` command) and
# requirements-nodeps.txt on first use (idempotent: a stamp file).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.txt requirements-nodeps.txt | sha1sum | cut -c1-12)
DEMO_STORE := .mmrec/stores/demo
PORT ?= 8501

.PHONY: run test demo-store bench

$(STAMP): pyproject.toml requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	rm -f $(VENV)/.installed-*; touch $(STAMP)

# The demo store, and the default encoder's towers converted for the runtime once (so the first query is fast).
# Rebuilt (a new version, seconds) when the shipped demo vectors change, i.e. with a new aligned checkpoint.
$(DEMO_STORE)/CURRENT: $(STAMP) assets/demo/embeddings-seed.npz
	$(PY) -m mmrec_core ingest assets/demo --store $(DEMO_STORE)
	$(PY) -m mmrec_core prepare

demo-store: $(DEMO_STORE)/CURRENT

run: $(STAMP) $(DEMO_STORE)/CURRENT
	$(PY) -m streamlit run app.py --server.port $(PORT)

# The browser test drives Debian's Chromium (never a downloaded browser).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium chromium-driver; \
	else echo "install Debian's chromium (sudo apt-get install chromium) for the browser test"; fi

# Node runs the browser's fusion twin against the library's test vectors (tests/js/, from tests/test_fusion_js.py).
NODE := /usr/bin/node
$(NODE):
	if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q nodejs; \
	else echo "install Debian's nodejs (sudo apt-get install nodejs) for the JavaScript test"; fi

test: $(STAMP) $(CHROMIUM) $(NODE)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/query_latency.py
