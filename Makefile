# cartpole-compare: `make test` and `make compare` are all the set-up there is.
# The first target that needs Python builds .venv from this repository's own files.

PYTHON     ?= python3
VENV       ?= .venv
# Install torch before anything that depends on it: a bare `torch` pulls a multi-GB CUDA build.
# Choose another build with e.g. `make install TORCH_SPEC="torch==2.13.0+cu128"`.
TORCH_SPEC ?= torch==2.13.0
STUDY      ?= cartpole
RUNS_DIR   ?= runs
REPORTS_DIR ?= reports
JOBS       ?= 2
TEST_JOBS  ?= 2
ARGS       ?=

BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast compare classic-control decide tune-compare quick example tensorboard tensorboard-tune bench bench-parity bench-tabular bench-iterate bench-notebook bench-tune lint clean

# pip compiles what it installs one file at a time; compileall compiles the same files on every
# core (a few of torch's, written for newer Pythons, fail to compile under both, harmlessly).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev]"
	@$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null || true
	@touch $(STAMP)

# SB3's source distribution for the installed version holds its tests/: tests/test_sb3_suite.py
# runs its DQN tests with the hand-written agents in DQN's place. Without network it is left out
# (and that test downloads it or skips, saying why); the next make tries again.
SB3_SOURCE := $(VENV)/sb3-source

$(SB3_SOURCE)/.done: $(STAMP)
	@rm -rf $(SB3_SOURCE) && mkdir -p $(SB3_SOURCE)
	@version=$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("stable-baselines3"))'); \
	if $(BIN)/python -m pip download --quiet --timeout 15 --retries 1 --no-binary :all: --no-deps \
			"stable-baselines3==$$version" -d $(SB3_SOURCE); then \
		tar xzf $(SB3_SOURCE)/stable_baselines3-$$version.tar.gz -C $(SB3_SOURCE) && touch $@; \
	else echo "SB3's source distribution $$version could not be downloaded: tests/test_sb3_suite.py will try again"; fi

install: $(STAMP) $(SB3_SOURCE)/.done  ## build .venv (torch first, then the project with its dev extra) and cache SB3's tests

# `make test` runs the suite on $(TEST_JOBS) pytest-xdist workers. The workers take whole modules
# (a module's studies are made once), the heaviest first (tests/conftest.py).
PYTEST_PARALLEL = $(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

test: $(STAMP) $(SB3_SOURCE)/.done  ## the whole test suite, in parallel
	$(PYTEST_PARALLEL) $(ARGS)

test-fast: $(STAMP)  ## the unit tests, for the edit loop: no test marked slow or e2e (about a minute on 2 cores)
	$(PYTEST_PARALLEL) -m "not slow and not e2e" $(ARGS)

compare: $(STAMP)  ## run the default study end to end and write reports/<study>/
	$(BIN)/harness compare $(STUDY) --jobs $(JOBS) --runs-dir $(RUNS_DIR) --reports-dir $(REPORTS_DIR) $(ARGS)

classic-control: $(STAMP)  ## the reference study across envs: writes reports/classic-control/ (about 45 minutes on 2 cores)
	$(BIN)/harness compare classic-control --jobs $(JOBS) --runs-dir $(RUNS_DIR) --reports-dir $(REPORTS_DIR) $(ARGS)

decide: $(STAMP)  ## custom_dqn against sb3_dqn, tabular_q and random, seeds added in rounds until decided (AdaStop): writes reports/cartpole-decide/
	$(BIN)/harness compare cartpole-decide --jobs $(JOBS) --runs-dir $(RUNS_DIR) --reports-dir $(REPORTS_DIR) $(ARGS)

tune-compare: $(STAMP)  ## tune custom_dqn, sb3_dqn and tabular_q with one Optuna budget, then compare them: writes reports/cartpole-tuned/ (about an hour on 2 cores)
	$(BIN)/harness tune cartpole-tune --jobs $(JOBS) --runs-dir $(RUNS_DIR) $(ARGS)
	$(BIN)/harness compare $(RUNS_DIR)/cartpole-tuned/tuned.toml --jobs $(JOBS) --runs-dir $(RUNS_DIR) --reports-dir $(REPORTS_DIR)

quick: $(STAMP)  ## the tiny study (about 20 seconds here)
	$(BIN)/harness compare quick --jobs $(JOBS) --runs-dir $(RUNS_DIR) --reports-dir $(REPORTS_DIR) $(ARGS)

example: $(STAMP)  ## bring your own agent: check examples/my_agents.py, then run examples/study.toml
	$(BIN)/harness check-agent examples/my_agents.py:ExpectedSarsaAgent
	$(BIN)/harness compare examples/study.toml --jobs $(JOBS) --runs-dir $(RUNS_DIR) --reports-dir $(REPORTS_DIR) $(ARGS)

tensorboard: $(STAMP)  ## the default study's comparison in TensorBoard, one colour per agent (loopback only; STUDY_NAME=... for another)
	$(BIN)/harness tensorboard $(RUNS_DIR)/$(or $(STUDY_NAME),cartpole-v1) $(ARGS)

tensorboard-tune: $(STAMP)  ## the trials of a tune in TensorBoard (default: make tune-compare's), one session each in HParams
	$(BIN)/harness tensorboard $(RUNS_DIR)/$(or $(STUDY_NAME),cartpole-tuned) --tune $(ARGS)

bench: $(STAMP)  ## speed figures: tabular, and custom vs sbx vs SB3 DQN (installs the bench extra: sbx, JAX)
	@$(BIN)/python -c "import sbx" 2>/dev/null || $(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks.speed $(ARGS)

bench-parity: $(STAMP)  ## hand-written vs SB3 DQN, zoo preset, seeds 0-9, 50,000 steps
	$(BIN)/python -m benchmarks.parity $(ARGS)

bench-tabular: $(STAMP)  ## the tabular agents after the assignment's 300 episodes, seeds 0-9
	$(BIN)/python -m benchmarks.tabular_episodes $(ARGS)

bench-iterate: $(STAMP)  ## one change to one agent of the default study: compare + report time, report cache
	$(BIN)/python -m benchmarks.iterate --runs-dir $(RUNS_DIR) --jobs $(JOBS) $(ARGS)

bench-tune: $(STAMP)  ## which stop rule and objective harness tune uses by default: every rule, 3 agents, 3 tuner seeds at a reduced budget (about 90 minutes on 2 cores)
	$(BIN)/python -m benchmarks.tuning_rules --jobs $(JOBS) $(ARGS)

bench-notebook: $(STAMP)  ## a compare of 2 pairs of 1,000 env steps from a notebook (Jupyter kernels): the time outside training, and where it goes (about a minute)
	$(BIN)/python -m benchmarks.notebook_overhead --jobs $(JOBS) $(ARGS)

lint: $(STAMP)  ## ruff on the code, tests, examples and benchmarks; import-linter on the layers
	$(BIN)/ruff check harness custom_agents tests benchmarks examples
	$(BIN)/ruff format --check harness custom_agents tests benchmarks examples
	$(BIN)/lint-imports

clean:  ## remove the venv, caches and runs/ (reports/ is kept: the reference report is committed)
	rm -rf $(VENV) $(RUNS_DIR) .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
