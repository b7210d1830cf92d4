"""Test and demo harness around the controller, not part of it.

    physics.py      ROS-free differential-drive kinematics, laser scan and battery (unit-tested)
    node.py         `sim_robot`: the physics as a ROS 2 node (cmd_vel in; odom, scan, battery_state out)
    closed_loop.py  simulator + the real controller process + an observer, for the demo, the closed-loop
                    evaluation and the latency benchmark
    demo.py         `make demo`: the course's commands through the closed loop, with odometry and a plot
"""
