"""Collision counting against sim.physics worlds (sim.collisions)."""

from __future__ import annotations

import pytest

from ros2_llm_controller.sim.collisions import CollisionCounter, clearance_m, contacts
from ros2_llm_controller.sim.physics import Circle, DiffDriveSim, World

WORLD = World((Circle(1.0, 0.0, 0.3), Circle(-1.0, 1.0, 0.2)), half_size_m=2.0)


def test_overlap_touch_and_clear():
    assert contacts(WORLD, 0.0, 0.0, 0.2) == []
    assert clearance_m(WORLD, 0.0, 0.0, 0.2) == pytest.approx(0.5)
    assert contacts(WORLD, 0.5, 0.0, 0.2) == []  # exactly touching is not a collision
    hit = contacts(WORLD, 0.6, 0.0, 0.2)
    assert [(c.what, c.index) for c in hit] == [("obstacle", 0)] and hit[0].depth_m == pytest.approx(0.1)
    assert clearance_m(WORLD, 0.6, 0.0, 0.2) == pytest.approx(-0.1)
    assert [c.index for c in contacts(WORLD, -1.0, 0.75, 0.1)] == [1]


def test_walls_count_and_corner_touches_two():
    assert [(c.what, c.index) for c in contacts(WORLD, 1.9, 0.0, 0.2)] == [("wall", 0)]
    assert {(c.what, c.index) for c in contacts(WORLD, -1.9, -1.9, 0.2)} == {("wall", 1), ("wall", 3)}
    assert clearance_m(WORLD, 0.0, 1.9, 0.2) == pytest.approx(-0.1)


def test_counter_counts_contacts_not_ticks():
    sim = DiffDriveSim(cmd_timeout_s=10.0)
    sim.reset(0.0)
    counter = CollisionCounter(radius_m=0.2)
    sim.command(0.5, 0.0, 0.0)
    for i in range(1, 201):  # 4 s at 0.5 m/s: through the obstacle at x = 1 and on into the wall
        s = sim.step(i * 0.02)
        counter.update(WORLD, s.x, s.y)
    # Entered obstacle 0 once (x 0.5 .. 1.5), then the +x wall (x > 1.8): two collisions.
    assert counter.count == 2 and counter.max_depth_m > 0.1
