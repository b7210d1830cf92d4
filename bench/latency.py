"""Command latency and stop latency, through the real node and the simulator, beside the course's way.

    .venv/bin/python -m bench.latency [--commands 30] [--stops 50] [--naive 30] [--backend transformers onnx]
                                      [--out reports/bench]

1. command -> first non-zero /cmd_vel, p50/p95, for motion commands of the test split, with the
   controller as its own process (config/controller.yaml: embedded model, merged shipped adapter,
   greedy, stop at end-of-turn, cached system-prompt KV, compact answers);
   beside it, in the same run, the course's naive way on the same model and commands: the PEFT
   model unmerged, full prompt every time, sampling at temperature 0.7, 100 new tokens with no
   early stop, then parse. Ratio = naive p50 / ours p50.
2. stop latency: "stop" published while the model is generating for a newer command (the robot
   still moving from the previous one) -> zero Twist received, p50/p99.
3. stop during a plan and stop during a navigation -> zero Twist received, p50/p95/p99 (target p99
   <= 50 ms): a controller with scripted answers (the model is not what this measures) runs a 3-step
   plan, or drives to a named place on odometry, and "stop" lands at a random moment of it; each
   trial starts from the start pose.
Prints one table and writes <out>/latency.json. ``--commands 0 --stops 0 --naive 0`` runs part 3 only
(no model).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

from ros2_llm_controller.sim.closed_loop import ClosedLoop
from training.stats import percentile as pct

ROOT = Path(__file__).resolve().parents[1]  # the checkout: data/, config/, reports/


def motion_commands(n: int, seed: int = 0) -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "data/robot/test.jsonl").read_text().splitlines()]
    # Single-step motions without history: the command's first motion is its whole answer.
    moves = [r["messages"][-2]["content"] for r in rows if len(r["messages"]) == 3 and r["kind"] == "plan"
             and ";" not in (a := r["messages"][-1]["content"]) and a.startswith(("move", "turn", "arc"))
             and " x" not in a and not a.startswith("repeat")]
    random.Random(seed).shuffle(moves)
    return moves[:n]


def is_moving(tw) -> bool:
    return tw[1] != 0.0 or tw[2] != 0.0


def ours(loop: ClosedLoop, commands: list[str]) -> tuple[list[float], list[float], list[dict]]:
    """Command -> first non-zero /cmd_vel; each motion is then stopped so the next starts from rest.
    Commands that did not move come back with what the controller said about them (``missed``)."""
    firsts, gen, missed = [], [], []
    for cmd in commands:
        t0 = loop.send(cmd)
        ok = loop.wait(lambda: loop.first_twist(t0, True) is not None
                       or loop.result_for(cmd, t0) is not None and not _moves(loop, cmd, t0), 60.0)
        first = loop.first_twist(t0, True)
        loop.wait(lambda: loop.result_for(cmd, t0) is not None, 5.0)  # may trail the first Twist
        status = loop.result_for(cmd, t0)
        if not ok or first is None:  # the answer did not move the robot: a wrong answer, counted apart
            missed.append({"command": cmd, "timed_out": not ok, "model_output": (status or {}).get("model_output"),
                           "error": (status or {}).get("error"), "state": (status or {}).get("state")})
        else:
            firsts.append(first - t0)
            if status:
                gen.append(status["latency_s"])
        t_stop = loop.send("stop")
        loop.wait(lambda: loop.first_twist(t_stop, False) is not None, 10.0)
    return firsts, gen, missed


def _moves(loop: ClosedLoop, cmd: str, t0: float) -> bool:
    s = loop.result_for(cmd, t0)
    return bool(s and s["action"] and s["action"]["type"] == "move")


def stop_during_generation(loop: ClosedLoop, commands: list[str], trials: int) -> list[float]:
    """Robot moving from command A; command B is generating; "stop" -> zero Twist."""
    out = []
    for i in range(trials):
        a, b = commands[i % len(commands)], commands[(i + 1) % len(commands)]
        t0 = loop.send(a)
        if not loop.wait(lambda: loop.first_twist(t0, True) is not None, 60.0):
            continue
        t1 = loop.send(b)
        # "accepted" is published when the generation thread takes the command.
        loop.wait(lambda: loop.status_for(b, ("accepted",), t1) is not None, 10.0)
        time.sleep(random.uniform(0.02, 0.12))  # land somewhere inside the generation
        t_stop = loop.send("stop")
        if loop.wait(lambda: loop.first_twist(t_stop, False) is not None, 10.0):
            out.append(loop.first_twist(t_stop, False) - t_stop)
        loop.wait(lambda: loop.status_for(b, ("cancelled", "result"), t1) is not None, 30.0)
        loop.wait(lambda: loop.rec.twists and not is_moving(loop.rec.twists[-1]), 5.0)
    return out


PLAN = ("Go forward 1 meter, turn left 90 degrees, then go forward 1 meter",
        "move forward 1 m; turn left 90 deg; move forward 1 m")
NAV_PLACES = ("kitchen", "charging station", "living room", "front door", "office", "bedroom")


def scripted_stops(trials_plan: int, trials_nav: int, params_file: str, out: Path,
                   seed: int = 0) -> tuple[list[float], list[float], int]:
    """Stop during a plan and during a navigation -> zero Twist, on a scripted controller; and how many
    trials moved again after the zero (should be none)."""
    rng = random.Random(seed)
    script = {PLAN[0]: PLAN[1], **{f"Navigate to the {p}": f"go to {p}" for p in NAV_PLACES}}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "latency_stops_script.json"
    path.write_text(json.dumps(script, indent=1) + "\n")
    plan_s, nav_s, moved_again = [], [], 0
    with ClosedLoop(params_file, scripted=path, controller_log=out / "latency_stops_controller.log") as loop:
        for kind, trials, results in (("plan", trials_plan, plan_s), ("nav", trials_nav, nav_s)):
            for i in range(trials):
                loop.reset_robot(0.0, 0.0, 0.0)
                cmd = PLAN[0] if kind == "plan" else f"Navigate to the {NAV_PLACES[i % len(NAV_PLACES)]}"
                t0 = loop.send(cmd)
                if not loop.wait(lambda: loop.first_twist(t0, True) is not None, 30.0):
                    continue
                # The plan takes 7.1 s; a navigation turns, then drives for several seconds.
                delay = rng.uniform(0.1, 6.5 if kind == "plan" else 5.0)
                t_first = loop.first_twist(t0, True)
                time.sleep(max(0.0, t_first + delay - time.monotonic()))  # not in phase with the messages
                t_stop = loop.send("stop")
                if loop.wait(lambda: loop.first_twist(t_stop, False) is not None, 10.0):
                    t_zero = loop.first_twist(t_stop, False)
                    results.append(t_zero - t_stop)
                    loop.wait(lambda: time.monotonic() >= t_zero + 0.5, 1.0)
                    moved_again += any(is_moving(tw) for tw in loop.twists_after(t_zero))
    return plan_s, nav_s, moved_again


def naive(commands: list[str]) -> tuple[list[float], int]:
    """The course's script: PeftModel, sampling at 0.7, max_new_tokens=100 without early stop, then parse."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ros2_llm_controller.core.actions import ParseError
    from ros2_llm_controller.core.model_store import SHIPPED_ADAPTER_DIR, ensure_embedded_model
    from ros2_llm_controller.core.parser import parse_action

    base = str(ensure_embedded_model())
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if (SHIPPED_ADAPTER_DIR / "adapter_config.json").is_file():
        model = PeftModel.from_pretrained(model, str(SHIPPED_ADAPTER_DIR))
    model.eval()
    system = ("You are a robot control assistant. Convert the user's instruction into a robot action: "
              "describe the motion, then the cmd_vel you publish, e.g. 'Executing linear motion: distance=2.0m, "
              "speed=0.5m/s. Publishing cmd_vel with linear.x=0.5 for 4.0 seconds.'")
    times, parsed = [], 0
    torch.manual_seed(0)
    for cmd in commands:
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": cmd}]
        t0 = time.monotonic()
        enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=True, temperature=0.7, max_new_tokens=100, min_new_tokens=100,
                                 pad_token_id=tok.pad_token_id)
        text = tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        try:
            parse_action(text)
            parsed += 1
        except ParseError:
            pass
        times.append(time.monotonic() - t0)
    return times, parsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commands", type=int, default=30)
    ap.add_argument("--stops", type=int, default=30)
    ap.add_argument("--naive", type=int, default=30, help="commands for the naive baseline (0: skip)")
    ap.add_argument("--plan-stops", type=int, default=30, help="stop during a 3-step plan (scripted answers)")
    ap.add_argument("--nav-stops", type=int, default=30, help="stop during a navigation (scripted answers)")
    ap.add_argument("--params-file", default=str(ROOT / "config/controller.yaml"))
    ap.add_argument("--backend", choices=("transformers", "onnx"), nargs="+", default=["transformers"],
                    help="in-process backends to measure, one controller each, in the same run")
    ap.add_argument("--out", type=Path, default=ROOT / "reports/bench")
    args = ap.parse_args(argv)
    commands = motion_commands(max(args.commands, args.naive))
    firsts, gen, missed, stops = [], [], [], []
    by_backend: dict[str, dict] = {}
    if args.commands or args.stops:
        print(f"{len(commands)} motion commands from data/robot/test.jsonl", flush=True)
        for backend in args.backend:
            with ClosedLoop(args.params_file, overrides={"backend": backend},
                            controller_log=args.out / f"latency_controller_{backend}.log") as loop:
                f, g, m = ours(loop, commands[:args.commands])
                s = stop_during_generation(loop, commands, args.stops)
            by_backend[backend] = {"first_motion_s": f, "generation_s": g, "missed": m, "stop_latency_s": s}
        first = by_backend[args.backend[0]]
        firsts, gen, missed, stops = first["first_motion_s"], first["generation_s"], first["missed"], \
            first["stop_latency_s"]
    plan_stops, nav_stops, moved_again = ([], [], 0)
    if args.plan_stops or args.nav_stops:
        plan_stops, nav_stops, moved_again = scripted_stops(args.plan_stops, args.nav_stops, args.params_file,
                                                            args.out)
    naive_s, naive_parsed = naive(commands[:args.naive]) if args.naive else ([], 0)

    rows = []
    for backend, r in by_backend.items():
        rows += [(f"command -> first motion, ours, {backend}", r["first_motion_s"]),
                 (f"  of which generation (in the node), {backend}", r["generation_s"])]
    rows += [("command -> parsed action, course's naive way", naive_s),
             ("stop during generation -> zero Twist", stops),
             ("stop during a 3-step plan -> zero Twist", plan_stops),
             ("stop during a navigation -> zero Twist", nav_stops)]
    print(f"\n{'measure':48} {'n':>4} {'p50 s':>8} {'p95 s':>8} {'p99 s':>8} {'max s':>8}")
    for name, vals in rows:
        if vals:
            print(f"{name:48} {len(vals):>4} {pct(vals, .5):>8.3f} {pct(vals, .95):>8.3f} {pct(vals, .99):>8.3f} "
                  f"{max(vals):>8.3f}")
    ratio = pct(naive_s, .5) / pct(firsts, .5) if naive_s and firsts else None
    if ratio:
        print(f"\nnaive p50 / ours p50 = {ratio:.1f}x faster first motion")
    for backend, r in by_backend.items():
        if len(by_backend) > 1 and naive_s and r["first_motion_s"]:
            print(f"naive p50 / {backend} p50 = {pct(naive_s, .5) / pct(r['first_motion_s'], .5):.1f}x")
        print(f"ours, {backend}: {len(r['missed'])} of {len(commands[:args.commands])} commands did not move")
        for m in r["missed"]:
            print(f"   {m['command']!r} -> {m['model_output']!r} ({m['error'] or m['state']})")
    if args.naive:
        print(f"naive: {naive_parsed} of {len(naive_s)} outputs parsed")
    if plan_stops or nav_stops:
        print(f"stop during a plan / a navigation: target p99 <= 0.050 s; {moved_again} trials moved again "
              "within 0.5 s of the zero")
    report = {"machine": {"cpu_count": __import__("os").cpu_count(), "platform": platform.platform()},
              "ours_first_motion_s": firsts, "ours_generation_s": gen, "ours_missed": len(missed),
              "backends": by_backend,
              "naive_s": naive_s, "naive_parsed": naive_parsed, "stop_latency_s": stops,
              "stop_during_plan_s": plan_stops, "stop_during_navigation_s": nav_stops,
              "moved_again_after_stop": moved_again,
              "summary": {name: {"n": len(v), "p50": pct(v, .5), "p95": pct(v, .95), "p99": pct(v, .99)}
                          for name, v in rows if v}, "ratio_naive_over_ours_p50": ratio}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out / 'latency.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
