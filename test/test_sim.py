"""The kinematic simulator (sim.physics), its node, and the closed loop with a scripted controller."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from ros2_llm_controller.sim.physics import Circle, DiffDriveSim, World, quaternion_to_yaw, yaw_to_quaternion


def drive(sim: DiffDriveSim, v: float, w: float, seconds: float, refresh_s: float = 0.1, step_s: float = 0.02,
          t0: float = 0.0) -> float:
    """Send (v, w) every ``refresh_s`` for ``seconds``, stepping every ``step_s``; returns the end time."""
    t, next_cmd = t0, t0
    while t < t0 + seconds - 1e-9:
        if t >= next_cmd - 1e-9:
            sim.command(v, w, t)
            next_cmd += refresh_s
        t = round(t + step_s, 9)
        sim.step(t)
    return t


def test_straight_line_and_stale_command_stops():
    sim = DiffDriveSim(cmd_timeout_s=0.5)
    sim.reset(0.0)
    sim.command(0.5, 0.0, 0.0)
    sim.step(0.4)
    assert sim.state.x == pytest.approx(0.2) and sim.state.linear_x == 0.5
    sim.step(3.0)  # no new command: it went stale 0.5 s after it arrived
    assert sim.state.x == pytest.approx(0.25) and sim.state.linear_x == 0.0 and sim.state.y == 0.0


def test_arc_is_exact_and_independent_of_step_size():
    v, w, seconds = 0.5, 0.5, 3.0
    fine, coarse = DiffDriveSim(), DiffDriveSim()
    fine.reset(0.0)
    coarse.reset(0.0)
    drive(fine, v, w, seconds, step_s=0.005)
    drive(coarse, v, w, seconds, step_s=0.1)
    r = v / w
    for sim in (fine, coarse):
        assert sim.state.x == pytest.approx(r * math.sin(w * seconds), abs=1e-9)
        assert sim.state.y == pytest.approx(r * (1 - math.cos(w * seconds)), abs=1e-9)
        assert sim.state.distance_m == pytest.approx(v * seconds)


def test_rotation_is_unwrapped_beyond_half_a_turn():
    sim = DiffDriveSim()
    sim.reset(0.0)
    drive(sim, 0.0, 1.0, 4.0)
    assert sim.state.yaw_unwrapped == pytest.approx(4.0)
    assert sim.state.yaw == pytest.approx(4.0 - 2 * math.pi)
    assert quaternion_to_yaw(*yaw_to_quaternion(sim.state.yaw)) == pytest.approx(sim.state.yaw)


def test_battery_drains_faster_when_moving_and_bad_commands_are_ignored():
    idle, moving = DiffDriveSim(), DiffDriveSim()
    idle.reset(0.0, battery=0.5)
    moving.reset(0.0, battery=0.5)
    idle.step(10.0)
    drive(moving, 1.0, 0.5, 10.0)
    assert 0.5 > idle.state.battery > moving.state.battery
    moving.command(float("nan"), 0.0, 10.0)
    moving.step(10.2)
    assert moving.state.linear_x == 1.0  # the NaN was dropped; the last good command still holds


def test_rays_hit_obstacles_and_walls():
    world = World((Circle(2.0, 0.0, 0.5),), half_size_m=5.0)
    assert world.ray(0.0, 0.0, 0.0, 8.0) == pytest.approx(1.5)
    assert world.ray(0.0, 0.0, math.pi, 8.0) == pytest.approx(5.0)  # wall behind
    assert world.ray(0.0, 0.0, math.pi / 2, 3.0) == math.inf  # wall at 5 m, range 3 m: nothing (REP 117)
    assert world.ray(2.0, 0.0, 0.0, 8.0) == pytest.approx(0.5)  # inside: the far side


def test_scan_is_in_the_robot_frame():
    world = World((Circle(2.0, 0.0, 0.5),), half_size_m=50.0)
    sim = DiffDriveSim()
    sim.reset(0.0, yaw=math.pi / 2)  # facing +y: the obstacle is on the right (bearing -90 deg)
    angle_min, inc, ranges = sim.scan(world, beams=360, range_max=8.0)
    nearest = min(range(len(ranges)), key=lambda i: ranges[i])
    assert math.degrees(angle_min + nearest * inc) == pytest.approx(-90.0, abs=1.0)
    assert ranges[nearest] == pytest.approx(1.5, abs=1e-6)


@pytest.mark.parametrize("values, match", [([1.0, 2.0], "triples"), ([0.0, 0.0, -1.0], "radius"),
                                           ([0.0, float("inf"), 1.0], "finite")])
def test_bad_obstacle_lists_are_refused(values, match):
    with pytest.raises(ValueError, match=match):
        World.from_flat(values)


# ---- the node, in process ----

rclpy = pytest.importorskip("rclpy")


@pytest.mark.ros
@pytest.mark.timeout(120)
def test_sim_node_moves_on_cmd_vel_stops_when_stale_and_publishes_sensors():
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import BatteryState, LaserScan

    from ros2_llm_controller.sim.node import SimRobotNode

    ctx = Context()
    rclpy.init(context=ctx)
    sim = SimRobotNode(context=ctx, parameter_overrides=[Parameter("obstacles", value=[1.0, 0.0, 0.2])])
    probe = rclpy.create_node("probe", context=ctx)
    got = {"odom": [], "battery": [], "scan": []}
    cond = threading.Condition()

    def keep(kind):
        def cb(msg):
            with cond:
                got[kind].append(msg)
                cond.notify_all()
        return cb

    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    pub = probe.create_publisher(Twist, "cmd_vel", reliable)
    probe.create_subscription(Odometry, "odom", keep("odom"), reliable)
    probe.create_subscription(BatteryState, "battery_state", keep("battery"), qos_profile_sensor_data)
    probe.create_subscription(LaserScan, "scan", keep("scan"), qos_profile_sensor_data)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(sim)
    ex.add_node(probe)
    spinner = threading.Thread(target=ex.spin, daemon=True)
    spinner.start()

    def wait(pred, timeout=15.0):
        with cond:
            return cond.wait_for(pred, timeout)

    try:
        assert wait(lambda: got["odom"] and got["battery"] and got["scan"] and pub.get_subscription_count() > 0)
        scan = got["scan"][-1]
        ahead = scan.ranges[round((0.0 - scan.angle_min) / scan.angle_increment)]
        assert ahead == pytest.approx(0.8, abs=1e-3)  # obstacle 1 m ahead, radius 0.2
        assert 0.0 < got["battery"][-1].percentage <= 0.9
        twist = Twist()
        twist.linear.x = 0.4
        pub.publish(twist)  # one message only: the simulator must stop after the 0.5 s timeout
        assert wait(lambda: any(o.twist.twist.linear.x == 0.4 for o in got["odom"]))
        assert wait(lambda: got["odom"][-1].twist.twist.linear.x == 0.0
                    and any(o.twist.twist.linear.x == 0.4 for o in got["odom"]) and
                    got["odom"][-1].pose.pose.position.x > 0.0)
        x = got["odom"][-1].pose.pose.position.x
        assert x == pytest.approx(0.2, abs=0.02)  # 0.4 m/s for the 0.5 s timeout
    finally:
        ex.shutdown(timeout_sec=2.0)
        sim.destroy_node()
        probe.destroy_node()
        rclpy.try_shutdown(context=ctx)


@pytest.mark.ros
@pytest.mark.timeout(240)
def test_closed_loop_with_scripted_controller(tmp_path):
    """The real node (scripted answers) drives the simulator: distances, turns, queries and stop."""
    from ros2_llm_controller.sim.closed_loop import ClosedLoop

    script = tmp_path / "script.json"
    script.write_text(json.dumps({"ahead": "move forward 0.6 m", "left": "turn left 90 deg",
                                  "battery?": "query battery", "far": "move forward 5 m",
                                  "garbage": "Executing linear motion: banana"}))
    with ClosedLoop(scripted=script, controller_log=tmp_path / "controller.log", log=lambda _m: None) as loop:
        o = loop.run("ahead")
        assert o.forward_m == pytest.approx(0.6, rel=0.05) and abs(o.rotation_deg) < 0.5
        assert o.first_motion_s is not None and o.motion_s == pytest.approx(1.2, abs=0.15)
        o = loop.run("left")
        assert o.rotation_deg == pytest.approx(90.0, abs=3.0) and o.path_m < 0.01
        o = loop.run("battery?")
        assert o.path_m < 0.005 and o.reply.startswith("Battery at ")
        o = loop.run("garbage")  # unreadable model text: rejected, no motion
        assert o.action["type"] == "reject" and o.path_m < 0.005 and o.first_motion_s is None
        stop = loop.stop_during("far", stop_after_s=0.5)
        assert stop["stayed_stopped"] and stop["stop_latency_s"] < 1.0 and stop["travelled_m"] < 1.0


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_closed_loop_evaluation_scores_right_and_wrong_answers(tmp_path):
    """A scripted model that answers like the references succeeds, except where we make it wrong."""
    from ros2_llm_controller.core.config import ControllerConfig
    from training import evaluate_closed_loop as ecl
    from training.data_io import load_conversations

    root = Path(__file__).resolve().parents[1]
    cfg = ControllerConfig.from_yaml(root / "config/controller.yaml")
    chosen = ecl.select(load_conversations(root / "data/robot/test.jsonl"), cfg, 6, 2.5, seed=3)
    script = {ex["messages"][-2]["content"]: ex["messages"][-1]["content"] for ex in chosen}
    script.update(dict(ecl.STOP_TRIALS))
    wrong = next(ex for ex in chosen if ex["_ref"].moves)
    script[wrong["messages"][-2]["content"]] = "turn left 30 deg" if wrong["_ref"].linear_x else "move forward 0.3 m"
    (tmp_path / "script.json").write_text(json.dumps(script))
    out = tmp_path / "out"
    rc = ecl.main(["--limit", "6", "--max-duration-s", "2.5", "--seed", "3", "--stops", "1",
                   "--scripted", str(tmp_path / "script.json"), "--out", str(out),
                   "--params-file", str(root / "config/controller.yaml"), "--data", str(root / "data/robot")])
    assert rc == 0
    report = json.loads((out / "closed_loop_test.json").read_text())
    assert report["total"] == 7
    failed = [r["command"] for r in report["rows"] if not r["success"]]
    assert failed == [wrong["messages"][-2]["content"]], report["rows"]
    assert "Task success: 85.7%" in (out / "closed_loop_test.md").read_text()
