"""core.config.PARAMS as ROS parameters: descriptors with ranges, declaration, run-time validation."""

from __future__ import annotations

from typing import Any, Iterable

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from .core.config import PARAM_SPECS, PARAMS, ConfigError, ControllerConfig, ParamSpec


def descriptor_for(spec: ParamSpec) -> ParameterDescriptor:
    """Description with unit and choices, a numeric range from min/max, read_only for restart-only ones."""
    text = spec.description + (f" [{spec.unit}]" if spec.unit else "")
    if spec.choices:
        text += f" (one of: {', '.join(spec.choices)})"
    if spec.read_only:
        text += " (read-only: set at start-up)"
    d = ParameterDescriptor(description=text, read_only=spec.read_only)
    if spec.choices:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    is_int = isinstance(spec.default, int) and not isinstance(spec.default, bool)
    if spec.min is not None and spec.max is not None:
        if is_int:
            d.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=1)]
        elif isinstance(spec.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max),
                                                         step=0.0)]
    return d


def declare_all(node: Node, specs: Iterable[ParamSpec] = PARAMS) -> ControllerConfig:
    """Declare every parameter (overrides from params files / -p apply) and validate them together.

    Raises rclpy's ParameterException for a wrong type or out-of-range override (e.g. ``-p
    max_linear_mps:=1`` is an integer: write 1.0), ConfigError for a bad choice.
    """
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, descriptor_for(spec))
    return read_config(node)


def read_config(node: Node) -> ControllerConfig:
    return ControllerConfig.from_dict({name: node.get_parameter(name).value for name in PARAM_SPECS})


def validate_changes(config: ControllerConfig, params: Iterable[Parameter]) -> tuple[ControllerConfig | None, str]:
    """The config after ``params`` (names outside PARAMS are left to others), or None and the reason."""
    changes: dict[str, Any] = {p.name: p.value for p in params if p.name in PARAM_SPECS}
    if not changes:
        return config, ""
    try:
        return ControllerConfig.from_dict({**config.values, **changes}), ""
    except ConfigError as exc:
        return None, str(exc)


def set_result(ok: bool, reason: str = "") -> SetParametersResult:
    return SetParametersResult(successful=ok, reason=reason)
