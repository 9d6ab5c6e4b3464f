# marginlive: every target creates (or reuses) the virtual environment it needs in .venv.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup system test test-fast run detect bench dataset model model-fast reexport student detector clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

# What the service needs, no more (no training or test packages), at the tested versions.
$(RUN_STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".[serve,identity]"
	@touch $@

setup: $(STAMP)

# Debian packages the tests start for real: headless Chromium + ChromeDriver (the web page's
# browser test), redis-server (replicas sharing state), PostgreSQL (the shared gallery) and nginx
# with openssl (the service behind deploy/nginx.conf). Tests skip with a reason without them.
system:
	@if ! command -v chromedriver >/dev/null 2>&1 || ! (command -v chromium || command -v chromium-browser) >/dev/null 2>&1 \
	    || ! command -v redis-server >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	    || ! (command -v nginx || test -x /usr/sbin/nginx) >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium, chromium-driver, redis-server, postgresql, nginx, openssl (apt)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
	      redis-server postgresql nginx openssl >/dev/null) \
	      || echo "warning: the packages could not be installed; the browser, replica, PostgreSQL and proxy tests will skip"; \
	  else echo "note: chromium/chromedriver/redis-server/postgresql/nginx missing and not root: their tests will skip"; fi; \
	fi

test: setup system
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# The main job: the authentication service and its webcam page on loopback.
run: $(RUN_STAMP)
	$(BIN)/marginlive serve --host $(HOST) --port $(PORT)

# Passive liveness on a file or folder: make detect SOURCE=video.mp4
detect: $(RUN_STAMP)
	$(BIN)/marginlive detect $(SOURCE) --save $(or $(SAVE),marginlive-out.mp4)

# Rebuild the shipped models from ../shared/data with their recipes (training/recipes.py): the default about 10 minutes.
SHARED ?= ../shared/data
SHIPPED_MODEL := src/marginlive/weights/marginlive-default.onnx
MODEL_OUT ?= $(SHIPPED_MODEL)
# its trained cdcnet: the committed component where the shipped file is rebuilt, else beside MODEL_OUT
# (make model MODEL_OUT=/tmp/m.onnx leaves every tracked file as it is)
COMPONENTS_OUT ?= $(if $(filter $(SHIPPED_MODEL),$(MODEL_OUT)),models/components,$(dir $(MODEL_OUT)))
# where `marginlive collect` writes the crops; fixed, for the benchmarks read it there
DATASET := .marginlive/dataset
STUDENT_OUT ?= .marginlive/student-4x-96.onnx

# The face crops of ../shared/data that every recipe fits on (about half a minute).
dataset: setup
	rm -rf $(DATASET)
	$(BIN)/marginlive collect --out $(DATASET) --manifest $(SHARED)/webcam-replay/manifest.csv \
	  --manifest $(SHARED)/nuaa-print/manifest.csv --manifest $(SHARED)/celeba-spoof-sample/manifest.csv

model: dataset
	$(BIN)/marginlive train $(DATASET) --recipe default --components $(COMPONENTS_OUT) --out $(MODEL_OUT)

# The fast model: the committed student (models/components) beside an LBP branch fitted here: under a minute.
model-fast: dataset
	$(BIN)/marginlive train $(DATASET) --recipe fast --out src/marginlive/weights/marginlive-fast.onnx

# The shipped models' fitted weights written again by today's graph code (training/reexport.py): seconds, no
# data, every face scored as before to float rounding. The default's Silent-Face network comes from ../shared/models.
reexport: setup
	$(BIN)/marginlive reexport default
	$(BIN)/marginlive reexport fast

# A new student taught by the default (training/distil.py), 35-60 minutes on two cores. Each one is a draw of
# its seed, most of them worse than the committed one (models/MODEL_CARD.md): written beside the dataset.
# Fuse it apart (marginlive train .marginlive/dataset --recipe fast --components .marginlive --out FILE) and
# score FILE (benchmarks/leave_collections_out.py --also fast=FILE) before it replaces the committed one.
student: dataset
	$(BIN)/marginlive distil $(DATASET) --sources $(SHARED) --teacher $(MODEL_OUT) --out $(STUDENT_OUT)

# The face detector the pipeline runs: MediaPipe's BlazeFace rewritten for ONNX Runtime, weights unchanged.
detector: setup
	$(BIN)/python -m marginlive.detect.tflite_to_onnx src/marginlive/weights/blazeface-short-range.onnx

bench: setup
	$(BIN)/python benchmarks/bench_pipeline.py

clean:
	rm -rf $(VENV) .pytest_cache
