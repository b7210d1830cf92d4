# One-command entry points. `make test` and `make run` set everything up on a fresh machine (Python 3.11+, no ROS
# install needed: ROS 2 Kilted comes from PyPI wheels unless a sourced ROS 2 already provides rclpy).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
export ROS2_LLM_CONTROLLER_CACHE ?= $(CURDIR)/.cache
export PYTHONUNBUFFERED := 1
PKG_SOURCES := $(shell find ros2_llm_controller launch config scripts -type f -not -path '*/__pycache__/*' 2>/dev/null) setup.py setup.cfg package.xml
MODEL_DIR := $(ROS2_LLM_CONTROLLER_CACHE)/models/smollm2-135m-instruct

.PHONY: setup model run demo fleet-demo lint test test-fast bench dataset train evaluate closed-loop closed-loop-tasks alpaca clean help

help:
	@echo "make setup    - venv + pinned deps + ROS 2 wheels + this package + the embedded model"
	@echo "make run      - start the llm_controller node (embedded model + shipped adapter)"
	@echo "make demo     - simulator + controller + the course's commands, with odometry and a plot"
	@echo "make fleet-demo - 3 simulated robots, 3 controllers, one shared inference server (transformers serve)"
	@echo "make lint     - ruff check (also run by make test)"
	@echo "make test     - set up, then lint and run the whole test suite"
	@echo "make bench    - latency and training-throughput benchmarks"

setup: $(VENV)/.deps-done $(VENV)/.pkg-done $(MODEL_DIR)/config.json

$(VENV)/.deps-done: requirements/base.txt requirements/dev.txt requirements/ros.txt requirements/nav2-build.txt \
		interfaces/nav2_msgs/action/NavigateToPose.action scripts/build_nav2_msgs.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements/base.txt -r requirements/dev.txt
	@if $(PY) -c 'import rclpy, geometry_msgs.msg, std_msgs.msg, nav_msgs.msg, sensor_msgs.msg' 2>/dev/null; then \
	  echo "rclpy and messages already importable (sourced ROS 2 or earlier install): skipping ROS wheels"; \
	else $(PIP) install -q -r requirements/ros.txt; fi
	# nav2_msgs is not on PyPI: build NavigateToPose's interfaces from the upstream file (about 30 s).
	@if $(PY) -c 'import nav2_msgs.action' 2>/dev/null; then echo "nav2_msgs already importable"; \
	else scripts/build_nav2_msgs.sh $(VENV); fi
	touch $@

# A real (non-editable) install: editable installs skip data_files, so `ros2 launch` could not find the package.
$(VENV)/.pkg-done: $(VENV)/.deps-done $(PKG_SOURCES)
	$(PIP) install -q --no-deps --no-build-isolation .
	touch $@

model $(MODEL_DIR)/config.json: $(VENV)/.deps-done
	$(PY) -m ros2_llm_controller.core.model_store prepare

run: setup
	# The same wrapper `ros2 launch` runs from a pip-installed prefix.
	$(VENV)/lib/ros2_llm_controller/llm_controller --ros-args --params-file config/controller.yaml

# The README's main job: simulator + controller + the course's commands, with odometry and a trajectory plot.
demo: setup
	$(PY) -m ros2_llm_controller.sim.demo --params-file config/controller.yaml --out reports/demo

# Three namespaced simulated robots, each with its own controller (backend openai), sharing one transformers serve.
fleet-demo: setup
	$(PY) -m ros2_llm_controller.sim.fleet_demo --out reports/fleet_demo

# ruff.toml: pyflakes, pycodestyle, pep257 docstring shape, 120 characters.
lint: setup
	$(VENV)/bin/ruff check .

test: setup lint
	$(PY) -m pytest test -q -p no:cacheprovider

test-fast: setup lint
	$(PY) -m pytest test -q -m "not model and not slow" -p no:cacheprovider

# Printed figures side by side; not tests. About 10 minutes on 2 CPU cores.
bench: setup
	$(PY) -m bench.latency --backend transformers onnx --out reports/bench
	$(PY) -m bench.guard_latency --out reports/bench
	$(PY) -m bench.train_throughput --out reports/bench

dataset: setup
	$(PY) -m training.make_dataset --out data/robot

# The shipped adapter: about an hour on 2 CPU cores; resumes after an interruption.
train: setup
	$(PY) -m training.train_sft --config config/sft_smollm2_cpu.yaml

evaluate: setup
	$(PY) -m training.evaluate --model embedded --adapter default --split test --compare-base --out reports/eval

closed-loop: setup
	$(PY) -m training.evaluate_closed_loop --limit 40 --stops 5 --out reports/closed_loop

# Execution in closed loop with scripted answers (the model is not what these measure): named places,
# 3-step plans, collisions with the guard on and off. About 25 minutes (everything runs in real time).
closed-loop-tasks: setup
	$(PY) -m training.evaluate_closed_loop --limit 0 --stops 0 --place-trials 5 --plan-trials 20 --collisions \
	  --out reports/closed_loop_tasks

alpaca: setup
	$(PY) -m training.alpaca --data ../shared/data/alpaca_data.json --out reports/alpaca

clean:
	rm -rf build *.egg-info outputs .pytest_cache
