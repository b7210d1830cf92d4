"""The node as its own process (`python -m ros2_llm_controller.node --scripted ...`), driven by an rclpy
probe: discovery, a motion, then SIGINT or SIGTERM mid-motion must end in a zero Twist and exit 0, also
when the SIGINT comes twice (a non-interactive `ros2 launch` forwards the one its process group got).
`sim_robot` likewise exits 0 on a double SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.context import Context  # noqa: E402

from test_node import Probe  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[1]
SCRIPT = {"drive": "move forward 20 m", "hello": "reply hi", "__delay_s__": 0.1}


def start_node(tmp_path: Path, *ros_args: str, script: dict | None = SCRIPT,
               module: str = "ros2_llm_controller.node") -> tuple[subprocess.Popen, Path]:
    args = [sys.executable, "-m", module]
    if script is not None:
        f = tmp_path / "script.json"
        f.write_text(json.dumps(script))
        args += ["--scripted", str(f)]
    args += ["--ros-args"]
    if module == "ros2_llm_controller.node":
        args += ["-p", "rate_hz:=20.0", "-p", "default_linear_mps:=0.5"]
    args += list(ros_args)
    log = tmp_path / (module.rsplit(".", 2)[-2] + ".log")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


@pytest.fixture
def probe():
    context = Context()
    rclpy.init(context=context)
    p = Probe(context)
    yield p
    p.close()
    rclpy.try_shutdown(context=context)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


@pytest.mark.parametrize("signals", [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT],
                                     [signal.SIGINT, signal.SIGINT, signal.SIGTERM]],
                         ids=["SIGINT", "SIGTERM", "SIGINT-twice", "SIGINT-twice-then-SIGTERM"])
def test_signal_mid_motion_ends_in_zero_and_exits_0(tmp_path, probe, signals):
    proc, log = start_node(tmp_path)
    try:
        probe.handshake(timeout=60.0)
        probe.send("hello")
        assert probe.status("result", "hello")["reply"] == "hi"
        probe.send("drive")
        assert probe.wait_for(lambda: len(probe.nonzero()) >= 3), log.read_text()
        for i, signum in enumerate(signals):
            if i:
                time.sleep(0.02)  # while the node publishes its zeros
            proc.send_signal(signum)
        rc = proc.wait(timeout=30)
        output = log.read_text()
        assert rc == 0, output

        def zero_after_motion() -> bool:
            last_moving = max(i for i, t in enumerate(probe.twists) if t[1] != 0.0)
            return any(t[1] == 0.0 and t[2] == 0.0 for t in probe.twists[last_moving + 1:])

        assert probe.wait_for(zero_after_motion), output
        assert probe.status("shutdown")["state"] == "stopped"
        assert all(abs(t[1]) <= 1.0 for t in probe.twists)
        assert "Traceback" not in output, output
    finally:
        stop_process(proc)


def test_sim_robot_exits_0_on_sigint_twice(tmp_path, probe):
    """It never joined its spin thread: one SIGINT aborted it ("terminate called without an active
    exception", exit 134) under `ros2 run`."""
    from nav_msgs.msg import Odometry

    odom = []
    probe.node.create_subscription(Odometry, "/odom", odom.append, 10)
    proc, log = start_node(tmp_path, script=None, module="ros2_llm_controller.sim.node")
    try:
        deadline = time.monotonic() + 60.0
        while not odom and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert odom, log.read_text()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.02)
        proc.send_signal(signal.SIGINT)  # may come after the stop, while the interpreter exits
        rc = proc.wait(timeout=30)
        output = log.read_text()
        assert rc == 0, output
        assert "terminate called" not in output and "Traceback" not in output, output
    finally:
        stop_process(proc)


def test_bad_start_up_exits_nonzero_with_a_clear_message(tmp_path):
    proc, log = start_node(tmp_path, "-p", "max_linear_mps:=1")  # an integer for a double
    try:
        assert proc.wait(timeout=60) == 2
        text = log.read_text()
        assert "cannot start" in text and "max_linear_mps" in text and "Traceback" not in text, text
    finally:
        stop_process(proc)
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    result = subprocess.run([sys.executable, "-m", "ros2_llm_controller.node", "--scripted", str(bad)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--scripted" in result.stderr and "JSON object" in result.stderr


def test_help_mentions_scripted_mode():
    result = subprocess.run([sys.executable, "-m", "ros2_llm_controller.node", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--scripted" in result.stdout and "--ros-args" in result.stdout
