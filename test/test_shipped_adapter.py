"""The adapter shipped in the package: small, traceable to the committed data, and right on the course's commands."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.data_io import sha256_file

ROOT = Path(__file__).resolve().parents[1]
ADAPTER = ROOT / "ros2_llm_controller" / "adapters" / "smollm2-robot"
CACHE = Path(os.environ.get("ROS2_LLM_CONTROLLER_CACHE", ROOT / ".cache"))

pytestmark = pytest.mark.skipif(not (ADAPTER / "adapter_config.json").is_file(), reason="no shipped adapter")


def test_adapter_is_small_standard_and_traceable():
    total = sum(p.stat().st_size for p in ADAPTER.iterdir())
    # LoRA r=16 on every linear layer of the 135M model: 4.9 M parameters, 18.7 MB in fp32. A merged model or
    # full weights would be 540 MB.
    assert total < 24 * 2**20, f"shipped adapter is {total / 2**20:.1f} MB"
    config = json.loads((ADAPTER / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 16 and config["lora_alpha"] == 32
    assert set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj"}
    info = json.loads((ADAPTER / "training_info.json").read_text())
    assert info["base_model"] == "embedded" and info["command"][:3] == ["python", "-m", "training.train_sft"]
    assert info["dataset"]["train"]["sha256"] == sha256_file(ROOT / "data/robot/train.jsonl"), \
        "data/robot/train.jsonl changed since the adapter was trained: retrain or restore the data"


COURSE = {
    "Move the robot forward 2 meters": lambda a: a["type"] == "move" and a["linear_x"] == 0.5
    and a["angular_z"] == 0 and math.isclose(a["duration_s"], 4.0),
    "What is your battery level?": lambda a: a["type"] == "reply" and a["query"] == "battery",
    "Navigate to the charging station": lambda a: a["type"] == "goto" and a["place"] == "charging station",
    "Rotate 90 degrees clockwise": lambda a: a["type"] == "move" and a["angular_z"] == -0.5
    and a["linear_x"] == 0 and math.isclose(a["duration_s"], math.pi / 2 / 0.5, rel_tol=1e-6),
    "Report any obstacles": lambda a: a["type"] == "reply" and a["query"] == "obstacles",
}


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_course_commands_through_the_cli():
    if not (CACHE / "models" / "smollm2-135m-instruct" / "config.json").is_file():
        pytest.skip(f"embedded model not prepared under {CACHE} (make model)")
    exe = Path(sys.prefix) / "bin" / "ros2-llm-controller"
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "ros2_llm_controller.cli"]
    proc = subprocess.run([*cmd, "plan", *COURSE, "--json", "--config", str(ROOT / "config/controller.yaml")],
                          capture_output=True, text=True, timeout=540, cwd=ROOT,
                          env={**os.environ, "ROS2_LLM_CONTROLLER_CACHE": str(CACHE)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["command"] for r in results] == list(COURSE)
    for r in results:
        assert COURSE[r["command"]](r["action"]), r
