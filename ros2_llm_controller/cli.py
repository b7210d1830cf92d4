"""`ros2-llm-controller`: dry runs without ROS.

    ros2-llm-controller plan "Move the robot forward 2 meters" --json
    ros2-llm-controller parse "move forward 2 m" --json
    ros2-llm-controller prepare-model

`plan` runs the same planner as the node (stop words, model, parser, safety limits) and prints what the node would
publish; `parse` reads a model text with the same parser. Neither needs rclpy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .core.config import BACKENDS, ONNX_PRECISIONS, ConfigError, ControllerConfig, default_config_path, load_places
from .core.generation import GenerationError
from .core.planner import Planner, PlanResult, ResultKind, resolve
from .core.torch_setup import DTYPES


def _load_config(args) -> ControllerConfig:
    path = args.config or default_config_path()
    cfg = ControllerConfig.from_yaml(path) if path else ControllerConfig()
    overrides = {k: getattr(args, k, None) for k in ("model", "adapter", "chat_template", "device", "dtype",
                                                      "max_new_tokens", "limit_policy", "backend", "base_url",
                                                      "api_model", "onnx_precision")}
    return cfg.with_(**overrides)


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    if result.get("model_output") is not None:
        print(f"model:  {result['model_output']}")
    actions = result.get("actions") or [result["action"]]
    for i, action in enumerate(actions):
        line = f"{'action' if len(actions) == 1 else f'step {i + 1}'}: {action['type']}"
        if action["type"] == "move":
            line += (f"  linear.x={action['linear_x']:.3f} m/s  angular.z={action['angular_z']:.3f} rad/s"
                     f"  for {action['duration_s']:.2f} s")
        elif action["type"] == "wait":
            line += f"  {action['duration_s']:.2f} s"
        elif action["type"] == "goto":
            line += f"  {action['place']}"
        elif action.get("reply") or action.get("query"):
            line += f"  {action.get('reply') or 'query ' + action['query']}"
        print(line + ("  (limited)" if result.get("limited") and i == 0 else ""))
    if result.get("refers_to"):
        print(f"repeats: turn {result['refers_to']}")
    if result.get("error"):
        print(f"error:  {result['error']}")
    if "latency_s" in result:
        print(f"latency: {result['latency_s']:.3f} s")


def cmd_plan(args) -> int:
    from .core.generation import generator_from_config

    cfg = _load_config(args)
    generator = generator_from_config(cfg)  # backend: this process's model, or an OpenAI-compatible server
    planner = Planner(generator, cfg, places=load_places(cfg))  # one memory: "do that again" refers back
    status = 0
    for command in args.commands:
        result = planner.plan(command)
        _print(result.to_dict(), args.json)
        status = status or (0 if result.kind in (ResultKind.ACTION, ResultKind.STOP_WORD) else 1)
    return status


def cmd_parse(args) -> int:
    cfg = _load_config(args)
    result: PlanResult = resolve(args.text, cfg, places=load_places(cfg))
    d = result.to_dict()
    del d["command"], d["latency_s"]  # no command and no model here: only the text and what it resolves to
    _print(d, args.json)
    return 1 if result.kind is ResultKind.PARSE_ERROR else 0


def cmd_prepare_model(args) -> int:
    from .core.model_store import ensure_embedded_model

    print(ensure_embedded_model())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ros2-llm-controller", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--config", type=Path, help="ROS params file (default: config/controller.yaml)")
        sp.add_argument("--json", action="store_true", help="print one JSON object per command")
        sp.add_argument("--limit-policy", dest="limit_policy", choices=("clamp", "reject"))

    plan = sub.add_parser("plan", help="command text -> model -> safe action")
    plan.add_argument("commands", nargs="+", metavar="COMMAND")
    common(plan)
    plan.add_argument("--model", help="'embedded', a Hugging Face id or a local folder")
    plan.add_argument("--adapter", help="'default', 'none' or a LoRA adapter folder")
    plan.add_argument("--chat-template", dest="chat_template", choices=("auto", "chatml", "llama2", "llama3"))
    plan.add_argument("--device")
    plan.add_argument("--dtype", choices=DTYPES)
    plan.add_argument("--max-new-tokens", dest="max_new_tokens", type=int)
    plan.add_argument("--backend", choices=BACKENDS,
                      help="transformers: the model in this process; onnx: the same model exported, run by ONNX "
                      "Runtime GenAI in this process; openai: an OpenAI-compatible server")
    plan.add_argument("--onnx-precision", dest="onnx_precision", choices=ONNX_PRECISIONS,
                      help="backend onnx: the export's weights (fp32 is the reference)")
    plan.add_argument("--base-url", dest="base_url", help="backend openai: the server's API root")
    plan.add_argument("--api-model", dest="api_model", help="backend openai: the model name to request")
    plan.set_defaults(func=cmd_plan)

    parse = sub.add_parser("parse", help="model text -> safe action (no model)")
    parse.add_argument("text")
    common(parse)
    parse.set_defaults(func=cmd_parse)

    prep = sub.add_parser("prepare-model", help="convert the embedded SmolLM2 GGUF to a Hugging Face folder once")
    prep.set_defaults(func=cmd_prepare_model)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"ros2-llm-controller: configuration error: {exc}", file=sys.stderr)
        return 2
    except GenerationError as exc:
        print(f"ros2-llm-controller: model error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
