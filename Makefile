# The front door: `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PACKAGES := config transforms cache origin

.PHONY: run test lint typecheck pytest bench bench-smoke clean venv edge

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

SAMPLE := var/storage/sample.jpg

$(SAMPLE):
	mkdir -p $(dir $@)
	cp tests/fixtures/images/photo-medium-1024x768-camera.jpg $@

run: venv $(SAMPLE)
	$(BIN)/imgstax serve

# N origins (default 2) behind the nginx edge on 8080: make edge EDGE_ARGS="--origins 3"
edge: venv $(SAMPLE)
	$(BIN)/python -m nginx.run_edge $(EDGE_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy $(foreach p,$(PACKAGES),$(wildcard $(p))) bench nginx

pytest: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench-smoke: venv
	$(BIN)/python -m bench --smoke

test: lint typecheck pytest bench-smoke

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
