# The README's commands. Everything installs itself: a virtualenv with the project, and etcd.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test proto bench lint etcd nginx docker clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

etcd:
	@command -v etcd >/dev/null 2>&1 || { \
	  echo "installing etcd (apt package etcd-server)"; \
	  (apt-get update -qq && apt-get install -y -qq etcd-server etcd-client) >/dev/null; }

# nginx with its stream module, for `skiff loadbalancer` (a system nginx the package may start is stopped).
nginx:
	@{ command -v nginx >/dev/null 2>&1 && test -e /usr/lib/nginx/modules/ngx_stream_module.so; } || { \
	  echo "installing nginx (apt packages nginx-light, libnginx-mod-stream)"; \
	  (apt-get update -qq && apt-get install -y -qq nginx-light libnginx-mod-stream) >/dev/null; \
	  (service nginx stop || true) >/dev/null 2>&1; }

up: $(STAMP) etcd nginx
	$(BIN)/skiff up $(ARGS)

test: $(STAMP) etcd nginx docker
	$(BIN)/python -m pytest -q -p no:cacheprovider tests
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy skiff apiserver kubelet scheduler controllers proxy

# A Docker engine and the local busybox image for the docker runtime's tests (no registry needed).
docker:
	bash tools/ensure-docker.sh

proto: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m grpc_tools.protoc -I proto \
	  --python_out=. --grpc_python_out=. --mypy_out=. \
	  proto/skiff/api/v1/*.proto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy skiff apiserver kubelet scheduler controllers proxy

bench: $(STAMP) etcd
	$(BIN)/python bench/api_create.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/cli_get.py
	$(BIN)/python bench/pod_startup.py

clean:
	rm -rf $(VENV)
