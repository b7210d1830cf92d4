"""Test isolation: each pytest process gets its own ROS domain, localhost-only discovery and a
temporary log folder, set before any test initialises rclpy."""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_LOCALHOST_ONLY"] = "1"  # jazzy reads this one; kilted reads the line above
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="ros2_llm_controller_log_"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_configure(config):
    config.addinivalue_line("markers", "ros: needs rclpy and the message packages")
    config.addinivalue_line("markers", "model: loads the embedded SmolLM2 model (slow on CPU)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from tiny_llm import save_tiny

    return save_tiny(tmp_path_factory.mktemp("tiny_llm"))
