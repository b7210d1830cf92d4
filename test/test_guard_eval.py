"""The guard in closed loop on sim.physics kinematics over config/guard_scenarios.yaml (sim.guard_eval)."""

from __future__ import annotations

import pytest

from ros2_llm_controller.sim.guard_eval import evaluate, load_scenarios, main

SCENARIOS = load_scenarios()


@pytest.fixture(scope="module")
def pairs():
    return evaluate(SCENARIOS)


def test_zero_collisions_with_the_guard_and_some_without(pairs):
    assert sum(on.collisions for _, on in pairs) == 0
    assert sum(off.collisions for off, _ in pairs) > 0


@pytest.mark.parametrize("i", range(len(SCENARIOS)), ids=[s.name for s in SCENARIOS])
def test_each_scenario_does_what_it_is_for(pairs, i):
    sc, (off, on) = SCENARIOS[i], pairs[i]
    assert on.collisions == 0 and on.min_clearance_m > 0
    assert on.distance_m <= off.distance_m + 1e-9  # the guard only ever takes distance away
    if sc.guard_off_collides:
        assert off.collisions > 0 and on.guard_stopped
        assert on.stop_obstacle_distance_m is not None
    else:  # a control: nothing in the way, the motion completes untouched
        assert off.collisions == 0 and not on.guard_stopped and on.ticks_limited == 0
        assert on.distance_m == pytest.approx(off.distance_m) and on.rotated_deg == pytest.approx(off.rotated_deg)


def test_scenario_set_covers_angles_speeds_reverse_arcs_and_walls():
    cmds = [s.command for s in SCENARIOS]
    assert sum(c.startswith("arc") for c in cmds) >= 4 and sum(" back " in c for c in cmds) >= 2
    assert len({s.start[2] for s in SCENARIOS}) >= 4 and len({c.split(" at ")[-1] for c in cmds if " at " in c}) >= 3
    assert any(not s.world.obstacles for s in SCENARIOS)  # walls only


def test_cli_prints_both_totals(capsys, tmp_path):
    assert main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "guard off" in out and "guard on 0" in out and (tmp_path / "guard_eval.json").is_file()
