"""Simulated robot + llm_controller: a closed loop to try commands on without hardware.

    ros2 launch ros2_llm_controller demo.launch.py
    ros2 topic pub --once /command std_msgs/msg/String "data: 'Move the robot forward 2 meters'"
    ros2 topic echo /odom --field pose.pose.position

Every argument of controller.launch.py is passed through (params_file, model, adapter, namespace,
use_stamped, log_level); the simulator runs in the same namespace, so the topics meet.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "ros2_llm_controller"


def generate_launch_description() -> LaunchDescription:
    controller = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare(PACKAGE), "launch",
                                                            "controller.launch.py"])),
        launch_arguments={"namespace": LaunchConfiguration("namespace"),
                          "use_stamped": LaunchConfiguration("use_stamped")}.items())
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="Namespace of both nodes and of their topics"),
        DeclareLaunchArgument("use_stamped", default_value="",
                              description="true: TwistStamped on cmd_vel (the simulator follows); empty keeps the "
                                          "controller's params file value (Twist)"),
        OpaqueFunction(function=_simulator),
        controller,
    ])


def _simulator(context, *args, **kwargs):
    stamped = LaunchConfiguration("use_stamped").perform(context).strip().lower()
    parameters = [{"use_stamped": stamped in ("true", "1", "yes", "on")}] if stamped else []
    return [Node(package=PACKAGE, executable="sim_robot", name="sim_robot",
                 namespace=LaunchConfiguration("namespace"), parameters=parameters,
                 output="screen", emulate_tty=True)]
