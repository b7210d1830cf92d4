"""Start the llm_controller node of ros2_llm_controller.

    ros2 launch ros2_llm_controller controller.launch.py
    ros2 launch ros2_llm_controller controller.launch.py namespace:=robot1 use_stamped:=true \
        model:=/models/base adapter:=none log_level:=debug
    ros2 launch ros2_llm_controller controller.launch.py --show-args

Parameters come from ``params_file``; ``model``, ``adapter`` and ``use_stamped`` override it only
when given (their empty default keeps the file's value).
"""

from pathlib import Path

import yaml
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


def _node_section(params_file: str) -> dict:
    """The file's ``llm_controller:`` parameters, to repeat under the node's full name.

    rcl matches a bare ``llm_controller:`` key only to /llm_controller, so in a namespace the file
    alone would be silently ignored; launch_ros writes a dict under the node's full name.
    """
    path = Path(params_file)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RuntimeError(f"params_file {params_file!r} cannot be read: {exc}") from exc
    params = {}
    for key in (NODE_NAME, "/" + NODE_NAME):
        section = doc.get(key) if isinstance(doc, dict) else None
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            params.update(section["ros__parameters"])
    return params


def _launch_setup(context, *args, **kwargs):
    arg = {name: LaunchConfiguration(name).perform(context)
           for name in ("params_file", "model", "adapter", "namespace", "use_stamped", "log_level")}
    overrides = {key: arg[key] for key in ("model", "adapter") if arg[key]}
    if arg["use_stamped"]:
        overrides["use_stamped"] = _to_bool("use_stamped", arg["use_stamped"])
    parameters = [arg["params_file"]]
    section = _node_section(arg["params_file"])
    if section:
        parameters.append(section)
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
