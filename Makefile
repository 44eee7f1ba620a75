# The two commands that matter: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := mosquitto docker-compose chromium fonts-noto-cjk libgl1 libglib2.0-0 \
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
  gstreamer1.0-plugins-ugly gstreamer1.0-libav ffmpeg opencv-doc
VENDOR := gateway/console/static/vendor
# The real folders (wangge/ links gateway, edge, detectors and models; linting them twice would double every finding).
CODE := wangge/*.py wangge/demo wangge/schemas gateway edge detectors models tests bench

.PHONY: demo test lint typecheck unit bench clean system-packages vendor openapi

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "wangge needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# mqtt-spb-wrapper ships Eclipse Tahu's generated Sparkplug B schema; the tests check ours against it. It pins
# paho-mqtt 1.x, so it is installed without its dependencies and only its schema module is loaded.
$(VENV)/.installed: pyproject.toml $(VENDOR)/.done | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps mqtt-spb-wrapper==2.1.2
	touch $@

# The console's map library and its HLS player (hls.js, light build: no subtitles or DRM) come from the npm registry at build time (pinned by web/package-lock.json) and is
# served by the gateway itself: no CDN at run time.
$(VENDOR)/.done: web/package.json web/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	  else echo "building the console needs Node.js and npm: sudo apt-get install nodejs npm"; exit 1; fi; }
	npm ci --prefix web --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/leaflet $(VENDOR)/hls
	cp -r web/node_modules/leaflet/dist/leaflet.js web/node_modules/leaflet/dist/leaflet.css \
	  web/node_modules/leaflet/dist/images web/node_modules/leaflet/LICENSE $(VENDOR)/leaflet/
	cp web/node_modules/hls.js/dist/hls.light.min.js web/node_modules/hls.js/LICENSE $(VENDOR)/hls/
	touch $@

vendor: $(VENDOR)/.done

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

# The demo's camera needs ffmpeg and the clip opencv-doc ships: installed when root, otherwise the demo runs on
# sensors alone and says how to add the camera.
DEMO_PACKAGES := ffmpeg opencv-doc
demo: $(VENV)/.installed
	@missing=""; for p in $(DEMO_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null || echo "could not install$$missing: the demo runs without a camera"; \
	fi
	$(BIN)/wangge demo

lint: $(VENV)/.installed
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	@for f in gateway/console/static/console/*.js; do \
	  node --no-warnings --experimental-default-type=module --check $$f || exit 1; done

typecheck: $(VENV)/.installed
	$(BIN)/mypy

test: $(VENV)/.installed system-packages lint typecheck
	$(BIN)/pytest -p no:cacheprovider

# The API document, generated from the route table; a test fails when docs/openapi.json is stale.
openapi: $(VENV)/.installed
	$(BIN)/python -m wangge.gateway.http.openapi > docs/openapi.json

bench: $(VENV)/.installed system-packages
	$(BIN)/python bench/alert_ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache web/node_modules $(VENDOR) test-artifacts
