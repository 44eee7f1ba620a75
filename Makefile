# The two commands that matter: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := mosquitto docker-compose

.PHONY: demo test lint typecheck unit bench clean system-packages

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "wangge needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# mqtt-spb-wrapper ships Eclipse Tahu's generated Sparkplug B schema; the tests check ours against it. It pins
# paho-mqtt 1.x, so it is installed without its dependencies and only its schema module is loaded.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps mqtt-spb-wrapper==2.1.2
	touch $@

# Test-only system packages (the real broker). Installed when root; otherwise say what is missing.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	    systemctl disable --now mosquitto >/dev/null 2>&1 || service mosquitto stop >/dev/null 2>&1 || true; \
	  else \
	    echo "the tests need these Debian packages:$$missing"; \
	    echo "install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

demo: $(VENV)/.installed
	$(BIN)/wangge demo

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed
	$(BIN)/mypy

test: $(VENV)/.installed system-packages lint typecheck
	$(BIN)/pytest -p no:cacheprovider

bench: $(VENV)/.installed system-packages
	$(BIN)/python bench/alert_ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
