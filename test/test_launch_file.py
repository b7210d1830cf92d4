"""launch/controller.launch.py and config/controller.yaml.

launch and launch_ros are not on PyPI, so the launch file is checked statically (ast), its logic is
run against minimal stand-ins for the launch classes it uses, and, where launch_ros is installed
(a sourced ROS 2), the real description is built and its OpaqueFunction evaluated.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest
import yaml

from ros2_llm_controller.core.config import NODE_NAME, PARAMS, ControllerConfig

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "controller.launch.py"
CONFIG_FILE = ROOT / "config" / "controller.yaml"
ARGS = {"params_file", "model", "adapter", "namespace", "use_stamped", "log_level"}


# ---- config/controller.yaml ----

def test_config_has_every_parameter_at_its_default():
    doc = yaml.safe_load(CONFIG_FILE.read_text())
    assert list(doc) == ["/**/" + NODE_NAME]
    params = doc["/**/" + NODE_NAME]["ros__parameters"]
    assert list(params) == [p.name for p in PARAMS], "same names, same order as core.config.PARAMS"
    for p in PARAMS:
        # Same type too: rcl would refuse 1 (integer) for a double parameter.
        assert params[p.name] == p.default and type(params[p.name]) is type(p.default), p.name
    assert ControllerConfig.from_yaml(CONFIG_FILE).values == ControllerConfig().values


def test_config_comments_every_parameter_with_its_unit():
    lines = {m.group(1): line for line in CONFIG_FILE.read_text().splitlines()
             if (m := re.match(r"\s{4}(\w+):", line))}
    for p in PARAMS:
        comment = lines[p.name].partition("#")[2]
        assert comment.strip(), f"{p.name} has no comment"
        if p.unit:
            assert f"[{p.unit}]" in comment, f"{p.name}: unit {p.unit} missing from its comment"


# ---- static checks of the launch file ----

def _tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_launch_file_declares_described_arguments():
    tree = _tree()
    funcs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in funcs
    declared = {}
    for call in _calls(tree, "DeclareLaunchArgument"):
        name = call.args[0].value if call.args else _kw(call, "name").value
        desc = _kw(call, "description")
        assert desc is not None, f"{name} has no description"
        text = desc.value if isinstance(desc, ast.Constant) else ast.unparse(desc)
        assert len(text) > 10, name
        declared[name] = _kw(call, "default_value")
    assert set(declared) == ARGS
    for name in ("model", "adapter", "use_stamped"):
        assert isinstance(declared[name], ast.Constant) and declared[name].value == "", \
            f"{name} must default to '' (= keep the params file's value)"
    assert "FindPackageShare" in ast.unparse(declared["params_file"]) or \
        "get_package_share_directory" in ast.unparse(declared["params_file"])


def test_launch_file_node_action():
    tree = _tree()
    module = {n.targets[0].id: n.value.value for n in tree.body
              if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)}
    (node,) = _calls(tree, "Node")

    def const(key):
        v = _kw(node, key)
        return v.value if isinstance(v, ast.Constant) else module[v.id]

    assert const("package") == "ros2_llm_controller"
    assert const("executable") == "llm_controller" == NODE_NAME
    assert const("name") == "llm_controller"
    assert const("output") == "screen" and const("emulate_tty") is True
    for key in ("namespace", "parameters", "arguments"):
        assert _kw(node, key) is not None, key
    assert '"--ros-args", "--log-level"' in ast.unparse(_kw(node, "arguments")).replace("'", '"')
    assert _calls(tree, "OpaqueFunction"), "overrides are built in an OpaqueFunction"


# ---- the launch file's logic, with stand-ins for launch / launch_ros ----

class _Recorder:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


@pytest.fixture
def launch_module(monkeypatch):
    """The launch file imported against minimal launch/launch_ros stand-ins."""
    configs: dict[str, str] = {}

    class LaunchConfiguration(_Recorder):
        def perform(self, context):
            return context[self.args[0]]

    fakes = {
        "launch": {"LaunchDescription": type("LaunchDescription", (_Recorder,), {})},
        "launch.actions": {"DeclareLaunchArgument": type("DeclareLaunchArgument", (_Recorder,), {}),
                           "OpaqueFunction": type("OpaqueFunction", (_Recorder,), {})},
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration,
                                 "PathJoinSubstitution": type("PathJoinSubstitution", (_Recorder,), {})},
        "launch_ros": {}, "launch_ros.actions": {"Node": type("Node", (_Recorder,), {})},
        "launch_ros.substitutions": {"FindPackageShare": type("FindPackageShare", (_Recorder,), {})},
    }
    for name, attrs in fakes.items():
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(**attrs))
    spec = importlib.util.spec_from_file_location("controller_launch_under_test", LAUNCH_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    defaults = {"params_file": str(CONFIG_FILE), "model": "", "adapter": "", "namespace": "",
                "use_stamped": "", "log_level": "info"}

    def run(**given):
        configs.clear()
        configs.update(defaults, **given)
        (node,) = mod._launch_setup(configs)
        return node.kwargs

    mod.run = run
    return mod


def test_description_lists_arguments_then_the_opaque_function(launch_module):
    ld = launch_module.generate_launch_description()
    (entities,) = ld.args
    names = [e.args[0] for e in entities[:-1]]
    assert set(names) == ARGS and type(entities[-1]).__name__ == "OpaqueFunction"
    assert entities[-1].kwargs["function"] is launch_module._launch_setup


def test_defaults_pass_the_params_file_and_no_overrides(launch_module):
    kw = launch_module.run()
    assert kw["package"] == "ros2_llm_controller" and kw["executable"] == "llm_controller"
    assert kw["name"] == "llm_controller" and kw["namespace"] == ""
    assert kw["arguments"] == ["--ros-args", "--log-level", "info"]
    params = kw["parameters"]
    # The file alone: its /**/llm_controller key applies in a namespace too; no override dict when no
    # argument was given.
    assert params == [str(CONFIG_FILE)]


def test_given_arguments_override_and_use_stamped_is_a_bool(launch_module):
    kw = launch_module.run(model="/models/base", adapter="none", use_stamped="True", namespace="robot1",
                           log_level="debug")
    assert kw["parameters"][-1] == {"model": "/models/base", "adapter": "none", "use_stamped": True}
    assert kw["namespace"] == "robot1" and kw["arguments"][-1] == "debug"
    assert launch_module.run(use_stamped="false")["parameters"][-1] == {"use_stamped": False}
    with pytest.raises(ValueError, match="use_stamped"):
        launch_module.run(use_stamped="maybe")


def test_params_file_errors_are_clear(launch_module, tmp_path):
    with pytest.raises(RuntimeError, match="cannot be read"):
        launch_module.run(params_file=str(tmp_path / "missing.yaml"))
    wildcard = tmp_path / "w.yaml"
    wildcard.write_text("/**/llm_controller:\n  ros__parameters:\n    rate_hz: 10.0\n")
    assert launch_module.run(params_file=str(wildcard))["parameters"] == [str(wildcard)]


# ---- with a real launch_ros (a sourced ROS 2 installation) ----

def test_real_launch_ros_builds_the_description():
    pytest.importorskip("launch_ros")
    from launch import LaunchContext, LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch_ros.actions import Node

    spec = importlib.util.spec_from_file_location("controller_launch_real", LAUNCH_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ld = mod.generate_launch_description()
    assert isinstance(ld, LaunchDescription)
    declared = {a.name: a for a in ld.get_launch_arguments()}
    assert set(declared) == ARGS and all(a.description for a in declared.values())
    context = LaunchContext()
    context.launch_configurations.update({"params_file": str(CONFIG_FILE), "use_stamped": "true",
                                          "namespace": "robot1"})
    for entity in ld.entities:
        if isinstance(entity, DeclareLaunchArgument) and entity.name != "params_file":
            entity.execute(context)
    opaque = next(e for e in ld.entities if isinstance(e, OpaqueFunction))
    (node,) = opaque.execute(context)
    assert isinstance(node, Node)
    assert node.node_package == "ros2_llm_controller" and node.node_executable == "llm_controller"
