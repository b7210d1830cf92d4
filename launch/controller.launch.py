"""Start the llm_controller node of ros2_llm_controller.

    ros2 launch ros2_llm_controller controller.launch.py
    ros2 launch ros2_llm_controller controller.launch.py namespace:=robot1 use_stamped:=true \
        model:=/models/base adapter:=none log_level:=debug
    ros2 launch ros2_llm_controller controller.launch.py --show-args

Parameters come from ``params_file``; ``model``, ``adapter`` and ``use_stamped`` override it only
when given (their empty default keeps the file's value). A params file for a namespaced node keys its
section ``/**/llm_controller:`` (as config/controller.yaml does) or under the node's full name.
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "ros2_llm_controller"
NODE_NAME = "llm_controller"
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _to_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ValueError(f"launch argument {name}:={text!r}: expected true or false")


def _check_params_file(params_file: str) -> None:
    """A clear error for a missing file. No re-parsing: config/controller.yaml is keyed
    ``/**/llm_controller:``, which rcl applies to the node in any namespace."""
    if not Path(params_file).is_file():
        raise RuntimeError(f"params_file {params_file!r} cannot be read: no such file")


def _launch_setup(context, *args, **kwargs):
    arg = {name: LaunchConfiguration(name).perform(context)
           for name in ("params_file", "model", "adapter", "namespace", "use_stamped", "log_level")}
    overrides = {key: arg[key] for key in ("model", "adapter") if arg[key]}
    if arg["use_stamped"]:
        overrides["use_stamped"] = _to_bool("use_stamped", arg["use_stamped"])
    _check_params_file(arg["params_file"])
    parameters = [arg["params_file"]]
    if overrides:
        parameters.append(overrides)  # last: wins over the file
    return [Node(
        package=PACKAGE,
        executable=NODE_NAME,
        name=NODE_NAME,
        namespace=arg["namespace"],
        parameters=parameters,
        arguments=["--ros-args", "--log-level", arg["log_level"]],
        output="screen",
        emulate_tty=True,
    )]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "controller.yaml"]),
            description="ROS 2 parameters file for the llm_controller node"),
        DeclareLaunchArgument(
            "model", default_value="",
            description="Base model: 'embedded', a Hugging Face id or a local folder; empty keeps the params "
                        "file's value"),
        DeclareLaunchArgument(
            "adapter", default_value="",
            description="LoRA adapter folder, 'default' (shipped adapter) or 'none'; empty keeps the params "
                        "file's value"),
        DeclareLaunchArgument(
            "namespace", default_value="",
            description="Namespace of the node and of its relative topics (command, cmd_vel, ...)"),
        DeclareLaunchArgument(
            "use_stamped", default_value="",
            description="true: publish geometry_msgs/TwistStamped, false: Twist; empty keeps the params "
                        "file's value"),
        DeclareLaunchArgument(
            "log_level", default_value="info", choices=["debug", "info", "warn", "error", "fatal"],
            description="Logging level of the node"),
        OpaqueFunction(function=_launch_setup),
    ])
