# riskserve: `make serve` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
PORT ?= 3000
# BentoML's home (model store, bentos) must be an absolute path.
export BENTOML_HOME := $(CURDIR)/models_store
export BENTOML_DO_NOT_TRACK := true

.DEFAULT_GOAL := help
# Security lint: no medium or high finding may stand without an inline justification.
BANDIT_PATHS := service.py riskserve training monitoring benchmarks deploy
.PHONY: help venv model train serve test lint score spark score-spark bento image sbom lock drift drift-demo compare bench bench-inference bench-batch bench-reasons soak wrk promote rollback nginx chromium lb-demo model-card backtest

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements/dev.txt requirements/serve.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	@touch $@

venv: $(BIN)/.installed  ## create the virtual environment with pinned packages

# MODEL=<store name>: the model to serve, ship or report on (default: configuration.yaml's
# model_tag). The service reads it from RISKSERVE_MODEL.
ifdef MODEL
export RISKSERVE_MODEL := $(MODEL)
endif

model: venv  ## train the served model (MODEL=<name>) unless the store already has it
	$(BIN)/python -m training --if-missing

# SPEC=<spec.yaml> (default specs/credit.yaml), DATA=<file.csv|file.parquet>, ARGS="--seed 7".
train: venv  ## train a model version of SPEC (on DATA, else the spec's own data)
	$(BIN)/python -m training $(if $(SPEC),--spec "$(SPEC)") $(if $(DATA),--data "$(DATA)") $(ARGS)

# DATA, TARGET, NAME and OUT are required; POSITIVE=<label> for a binary target that is
# not 0/1, good/bad, yes/no or true/false.
spec: venv  ## draft a spec from DATA=<file> TARGET=<column> NAME=<name> OUT=<spec.yaml>
	$(BIN)/python -m training.draft --data "$(DATA)" --target "$(TARGET)" --name "$(NAME)" \
	  --out "$(OUT)" $(if $(POSITIVE),--positive "$(POSITIVE)")

serve: model  ## serve on 127.0.0.1:$(PORT) (MODEL=<name> for another model)
	$(BIN)/bentoml serve service:RiskAPI --host 127.0.0.1 --port $(PORT)

test: venv nginx chromium spark  ## run the whole test suite (slow end-to-end tests included)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit --quiet --recursive --severity-level medium $(BANDIT_PATHS)
	$(BIN)/python -m pytest

lint: venv  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bento: model  ## build the bento (service, settings and model; MODEL=<name>)
	$(BIN)/python -m deploy.bento

image: bento  ## containerize the new bento (Docker, else buildah as root; MODEL=<name>)
	$(BIN)/python deploy/build_image.py

# Delivery tools (requirements/delivery.txt) live in their own environment, apart from the
# service's and the developers' locks.
DELIVERY := $(CURDIR)/build/delivery
# The serving environment as the bento installs it: requirements/serve.txt and nothing else.
SBOM_ENV := $(CURDIR)/build/sbom/serve-env
SBOM ?= build/sbom/riskserve-serve.cdx.json

$(DELIVERY)/.installed: requirements/delivery.txt
	@test -x $(DELIVERY)/bin/python || $(PYTHON) -m venv $(DELIVERY)
	$(DELIVERY)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/delivery.txt
	@touch $@

$(SBOM_ENV)/.installed: requirements/serve.txt
	rm -rf $(SBOM_ENV) && $(PYTHON) -m venv $(SBOM_ENV)
	$(SBOM_ENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/serve.txt
	@touch $@

sbom: $(DELIVERY)/.installed $(SBOM_ENV)/.installed  ## CycloneDX SBOM of the serving environment (SBOM=build/sbom/riskserve-serve.cdx.json)
	@mkdir -p $(dir $(SBOM))
	$(DELIVERY)/bin/cyclonedx-py environment --pyproject pyproject.toml --mc-type application \
	  --spec-version 1.6 --output-format JSON --output-reproducible --validate --gather-license-texts \
	  --output-file $(SBOM) $(SBOM_ENV)/bin/python
	@echo "wrote $(SBOM)"

# Scoring files. INPUT: a .csv/.parquet file or a folder of them; OUTPUT: the scored
# .parquet (rejects and manifest beside it); KEY=<column>: the row id (default: row number);
# MODEL=<name>. Exit status 0 all scored, 1 some rejected, 2 bad input, 3 a fault (printed
# last, as make itself exits 2 on any failure).
SCORE_ARGS = --input "$(INPUT)" --output "$(OUTPUT)" $(if $(KEY),--key "$(KEY)") \
  $(if $(CHUNK_ROWS),--chunk-rows $(CHUNK_ROWS))
score: model  ## score INPUT=<file|folder> into OUTPUT=<file.parquet> (MODEL, KEY)
	@$(BIN)/python -m riskserve.score_files $(SCORE_ARGS); \
	  status=$$?; test $$status -eq 0 || { echo "riskserve.score_files exit status $$status" >&2; exit $$status; }

# The Spark job's own environment: the service's packages and pyspark (requirements/spark.txt),
# kept out of .venv so `make serve` and the image stay without Spark (~490 MB).
SPARK_ENV := $(CURDIR)/build/spark
$(SPARK_ENV)/.installed: requirements/spark.txt
	@test -x $(SPARK_ENV)/bin/python || $(PYTHON) -m venv $(SPARK_ENV)
	$(SPARK_ENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/spark.txt
	@touch $@

spark: $(SPARK_ENV)/.installed  ## the Spark job's environment (build/spark; Java 17 needed)

# Spark in local[*] mode here; executors run the environment's own Python.
score-spark: model spark  ## the same scoring as `make score` as a PySpark job (local[*])
	@PYSPARK_PYTHON=$(SPARK_ENV)/bin/python PYTHONPATH=$(CURDIR) \
	  $(SPARK_ENV)/bin/python -m riskserve.spark_job $(SCORE_ARGS); \
	  status=$$?; test $$status -eq 0 || { echo "riskserve.spark_job exit status $$status" >&2; exit $$status; }

# CURRENT: a .csv/.parquet sample or an audit-log folder (default: the service's log_dir).
OUT ?= build/drift
# GNU make exits 2 whenever a recipe fails, whatever the recipe's status, so the drift
# command's own status (0 none, 1 drift, 2 bad input, 3 failure) is printed on the last
# line; schedulers that act on it run `.venv/bin/python -m monitoring.drift` directly.
drift: model  ## drift report of CURRENT=<path> into OUT=<dir>; fails on drift
	@$(BIN)/python -m monitoring.drift $(if $(CURRENT),--current $(CURRENT)) --out $(OUT); \
	  status=$$?; test $$status -eq 0 || { echo "monitoring.drift exit status $$status" >&2; exit $$status; }

# AUDIT: an audit-log folder (default: the service's log_dir); OUTCOMES: a CSV or Parquet
# file of request_id, outcome[, observed_at]. OUT defaults to build/compare here.
compare: venv  ## champion vs challenger report from AUDIT=<dir> [OUTCOMES=<file>] into OUT=<dir>
	$(BIN)/python -m monitoring.compare_models $(if $(AUDIT),--audit "$(AUDIT)") \
	  $(if $(OUTCOMES),--outcomes "$(OUTCOMES)") \
	  --out "$(if $(filter command line environment,$(origin OUT)),$(OUT),build/compare)"

DEMO := build/drift-demo
drift-demo: model  ## SPEC's drift scenario and a no-drift sample, reported under build/drift-demo
	$(BIN)/python -m monitoring.scenario --out $(DEMO)
	$(BIN)/python -m monitoring.drift --current $(DEMO)/drifted.csv --out $(DEMO)/drifted; \
	  test $$? -eq 1 || { echo "expected drift in $(DEMO)/drifted.csv" >&2; exit 1; }
	$(BIN)/python -m monitoring.drift --current $(DEMO)/no_drift.csv --out $(DEMO)/no_drift
	@echo "open $(DEMO)/drifted/drift.html and $(DEMO)/no_drift/drift.html"

wrk:  # the HTTP load generator, from Debian's packages
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

# Tuned MLServer, a reference row of `make bench`, in its own environment and lock.
MLSERVER_VENV := $(CURDIR)/build/mlserver-venv

$(MLSERVER_VENV)/.installed: requirements/mlserver.txt
	rm -rf $(MLSERVER_VENV) && $(PYTHON) -m venv $(MLSERVER_VENV)
	$(MLSERVER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/mlserver.txt
	@touch $@

bench: model wrk $(MLSERVER_VENV)/.installed  ## HTTP benchmark vs tutorial FastAPI, tuned MLServer and the ASGI floor, plus fraud_model, into benchmarks/results (BENCH_SECONDS=10)
	$(BIN)/python -m training --model fraud_model --if-missing
	$(BIN)/python -m benchmarks.http_bench
	$(BIN)/python -m benchmarks.reasons_bench

bench-reasons: model wrk  ## what reason codes cost (part of make bench): benchmarks/results/reasons.md
	$(BIN)/python -m benchmarks.reasons_bench

# OUT defaults to build/drift for drift; the other reports get their own folder.
report_out = $(if $(filter command line environment,$(origin OUT)),$(OUT),build/$(1))

model-card: venv  ## write the model card of MODEL=<name or tag> (default: the served one) into OUT=<dir>
	$(BIN)/python -m training.model_card $(if $(MODEL),--model "$(MODEL)") --out "$(call report_out,model-card)"

# OUTCOMES: .csv/.parquet of request_id, outcome[, observed_at]; AUDIT: the audit folder
# (default: the service's log_dir). Like drift, the command's own status (0 no alert,
# 1 alert, 2 bad input, 3 failure) is printed when it is not 0; make itself exits 2.
backtest: venv  ## outcomes vs decisions and the model card: OUTCOMES=<file> [AUDIT=<dir>] OUT=<dir>
	@$(BIN)/python -m monitoring.backtest --outcomes "$(OUTCOMES)" $(if $(AUDIT),--audit "$(AUDIT)") \
	  $(if $(MODEL),--model-tag "$(MODEL)") --out "$(call report_out,backtest)"; \
	  status=$$?; test $$status -eq 0 || { echo "monitoring.backtest exit status $$status" >&2; exit $$status; }

promote: venv  ## serve TAG=<name:version> (no TAG: the challenger) from the next restart
	$(BIN)/python -m training.promote $(TAG)

rollback: venv  ## back to the previous champion from the next restart
	$(BIN)/python -m training.promote --rollback

nginx:  # the load balancer of lb-demo and its test, from Debian's packages
	@command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx; }

chromium:  # the headless browser the model-card test renders with, from Debian's packages
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

lb-demo: model nginx  ## two replicas behind nginx on 127.0.0.1:$(PORT)
	$(BIN)/python -m deploy.lb_demo

soak: model wrk  ## 10-minute soak at ~80% of capacity (SOAK_SECONDS, SOAK_LOAD); not in make test
	$(BIN)/python -m benchmarks.soak

bench-inference: model wrk  ## ONNX vs scikit-learn in-process, and a /predict profile
	$(BIN)/python -m benchmarks.inference

bench-batch: model wrk  ## where a 1,000-record batch spends server CPU (credit, fraud_model)
	$(BIN)/python -m training --model fraud_model --if-missing
	$(BIN)/python -m benchmarks.batch_profile

# Pin the full closure of a requirements/*.in file into its .txt, in a throwaway venv.
define pin
	rm -rf build/lock-$(1) && $(PYTHON) -m venv build/lock-$(1)
	build/lock-$(1)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/$(1).in
	{ echo "# Full pinned closure of $(1).in. Regenerate with \`make lock\` after editing it."; \
	  build/lock-$(1)/bin/python -m pip freeze --all | grep -v -E '^(pip|setuptools|wheel)=='; \
	} > requirements/$(1).txt
	rm -rf build/lock-$(1)
endef

lock: lock-serve lock-dev lock-delivery lock-spark lock-mlserver  ## re-pin requirements/*.txt from requirements/*.in

lock-%:
	$(call pin,$*)
