"""training/train_sft.py end to end on a tiny random model (CPU, a few steps), recipes and resumption."""

import json
import math
import os
import stat
from pathlib import Path

import pytest
import torch

from ros2_llm_controller.core.config import DEFAULT_SYSTEM_PROMPT
from training import train_sft
from training.data_io import sha256_file
from training.sft_recipe import RecipeError, build_recipe, load_recipe, parse_overrides
from training.sft_report import loss_points

ROOT = Path(__file__).resolve().parents[1]
PAIRS = [("Move the robot forward 2 meters", "move forward 2 m"), ("Rotate 90 degrees clockwise", "turn right 90 deg"),
         ("What is the battery level?", "query battery"), ("Stop", "stop"),
         ("Go back 50 cm slowly", "move backward 50 cm at 0.2 m/s")]


def write_jsonl(path: Path, n: int, offset: int = 0) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            user, answer = PAIRS[(i + offset) % len(PAIRS)]
            messages = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": user},
                        {"role": "assistant", "content": answer}]
            if i % 3 == 0:  # some two-turn conversations
                u2, a2 = PAIRS[(i + offset + 1) % len(PAIRS)]
                messages += [{"role": "user", "content": u2}, {"role": "assistant", "content": a2}]
            f.write(json.dumps({"id": f"c{i}", "messages": messages, "target": [], "meta": {"i": i}}) + "\n")
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("robot_data")
    write_jsonl(d / "train.jsonl", 16)
    write_jsonl(d / "validation.jsonl", 4, offset=2)
    return d


def recipe_for(model_dir, data_dir, out, sft=None, **top):
    doc = {"model": str(model_dir), "data": {"dir": str(data_dir)},
           "sft": {"output_dir": str(out), "max_steps": 3, "per_device_train_batch_size": 4,
                   "per_device_eval_batch_size": 4, "learning_rate": 1e-2, "max_length": 96, "logging_steps": 1,
                   "eval_strategy": "steps", "eval_steps": 2, "save_steps": 2, **(sft or {})}, **top}
    return build_recipe(doc)


def lora_tensors(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


@pytest.fixture(scope="module")
def trained(tiny_model_dir, data_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("sft_run")
    recipe = recipe_for(tiny_model_dir, data_dir, base / "out", export_dir=str(base / "export"), merge=True)
    metrics = train_sft.train(recipe, resume="auto", command=["python", "-m", "training.train_sft", "--config", "x"])
    return base, recipe, metrics


def test_adapter_is_a_standard_peft_folder_with_trained_lora_weights(trained, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, _, metrics = trained
    adapter = base / "out" / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    assert (adapter / "tokenizer.json").is_file() and (adapter / "tokenizer_config.json").is_file()
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(adapter))
    weights = lora_tensors(model)
    b = [v for k, v in weights.items() if "lora_B" in k]
    assert len(b) == 2 * 4  # 2 layers x q/k/v/o
    assert all(v.abs().sum() > 0 for v in b)  # PEFT initialises B to zero: nonzero means trained
    assert sum(v.numel() for v in weights.values()) == metrics["trainable_params"] == 14336
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        tuned = model(ids).logits
        with model.disable_adapter():
            plain = model(ids).logits
    assert not torch.allclose(tuned, plain)


def test_metrics_loss_curve_and_provenance_are_written(trained, data_dir):
    base, recipe, metrics = trained
    out = base / "out"
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert metrics["global_step"] == 3 and metrics["resumed_from_step"] == 0
    for key in ("train_loss_last", "train_loss_mean", "eval_loss"):
        assert math.isfinite(metrics[key]) and metrics[key] > 0
    assert metrics["tokens_seen"] > 3 * 4 * 10 and metrics["tokens_per_second"] > 0
    assert metrics["peak_rss_mb"] > 0 and metrics["device"] == "cpu" and metrics["dtype"] == "float32"
    assert metrics["dataset"]["train"]["examples"] == 16 and metrics["dataset"]["eval"]["examples"] == 4
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    train_pts, eval_pts = loss_points(json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
                                      ["log_history"])
    assert [s for s, _ in train_pts] == [1, 2, 3] and [s for s, _ in eval_pts] == [2, 3]  # 3: the last step
    info = json.loads((out / "adapter" / "training_info.json").read_text())
    assert info["dataset"]["train"]["sha256"] == sha256_file(data_dir / "train.jsonl")
    assert info["chat_template"] == "auto" and info["end_of_turn"] == "<|im_end|>"
    assert info["system_prompt"] == DEFAULT_SYSTEM_PROMPT and info["pad_token"] == "<pad>"
    assert info["recipe"]["lora"] == {"r": 16, "alpha": 32, "dropout": 0.05,
                                      "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
    assert info["command"][:3] == ["python", "-m", "training.train_sft"]


def test_export_copies_only_shippable_readable_files(trained):
    base, _, _ = trained
    exported = {p.name: p for p in (base / "export").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "training_info.json", "README.md"} <= set(exported)
    assert "training_args.bin" not in exported and not (base / "export.export-tmp").exists()
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in exported.values())
    assert (base / "export" / "adapter_model.safetensors").read_bytes() == \
        (base / "out" / "adapter" / "adapter_model.safetensors").read_bytes()
    # The tokenizer travels only when training changed it (a pad token was added).
    info = json.loads((base / "export" / "training_info.json").read_text())
    assert ("tokenizer_config.json" in exported) == info["pad_token_added"]


def test_export_leaves_out_an_unchanged_tokenizer_and_refuses_non_adapter_folders(trained, tmp_path):
    from training.sft_report import export_adapter

    base, _, _ = trained
    dst = export_adapter(base / "out" / "adapter", tmp_path / "slim", include_tokenizer=False)
    names = {p.name for p in dst.iterdir()}
    assert "adapter_model.safetensors" in names and not names & {"tokenizer.json", "tokenizer_config.json"}
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an adapter folder"):
        export_adapter(base / "out" / "adapter", tmp_path / "precious")
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_merged_model_matches_base_plus_adapter(trained, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, _, _ = trained
    merged = AutoModelForCausalLM.from_pretrained(base / "out" / "merged").eval()
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                           str(base / "out" / "adapter")).eval()
    ids = torch.tensor([[4, 10, 20, 30, 40, 5]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, peft_model(ids).logits, atol=1e-4)


def test_interrupted_run_resumes_from_its_last_checkpoint(tiny_model_dir, data_dir, tmp_path):
    out = tmp_path / "out"
    first = train_sft.train(recipe_for(tiny_model_dir, data_dir, out, {"max_steps": 2, "save_steps": 1}))
    assert first["global_step"] == 2 and (out / "checkpoint-2" / "trainer_state.json").is_file()
    (out / "checkpoint-9").mkdir()  # a checkpoint cut off while being written: no trainer_state.json
    assert train_sft.find_resume_checkpoint(out) == str(out / "checkpoint-2")
    second = train_sft.train(recipe_for(tiny_model_dir, data_dir, out, {"max_steps": 4, "save_steps": 1}))
    assert second["resumed_from_step"] == 2 and second["global_step"] == 4
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    train_steps = [e["step"] for e in state["log_history"] if "loss" in e]
    assert train_steps == [1, 2, 3, 4]  # steps 1-2 were not trained again
    assert second["tokens_seen"] > first["tokens_seen"]


def test_resume_target_choices(tmp_path):
    assert train_sft.resume_target("auto", str(tmp_path / "absent")) is None
    (tmp_path / "checkpoint-3").mkdir()
    (tmp_path / "checkpoint-3" / "trainer_state.json").write_text("{}")
    assert train_sft.resume_target("auto", str(tmp_path)) == str(tmp_path / "checkpoint-3")
    assert train_sft.resume_target("never", str(tmp_path)) is None
    with pytest.raises(FileNotFoundError):
        train_sft.resume_target(str(tmp_path / "nope"), str(tmp_path))


def test_rows_that_lose_every_answer_to_truncation_are_dropped_and_counted(tiny_model_dir, data_dir, tmp_path):
    long = tmp_path / "train.jsonl"
    write_jsonl(long, 6)
    with open(long, "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "too-long", "messages": [{"role": "user", "content": "Stop now " * 60},
                                                             {"role": "assistant", "content": "stop"}]}) + "\n")
    recipe = recipe_for(tiny_model_dir, tmp_path, tmp_path / "out", {"max_steps": 1, "max_length": 64},
                        data={"dir": str(tmp_path), "eval": None})
    metrics = train_sft.train(recipe)
    assert metrics["dataset"]["train"]["dropped"] == 1 and metrics["dataset"]["train"]["dropped_ids"] == ["too-long"]
    assert metrics["dataset"]["train"]["examples"] == 6 and metrics["eval_loss"] is None


# ---- recipes and the command line ----

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]


@pytest.mark.parametrize("name", ["sft_smollm2_cpu", "sft_tinyllama"])
def test_shipped_recipes_are_valid_and_document_their_command(name):
    path = ROOT / "config" / f"{name}.yaml"
    recipe = load_recipe(path)
    header = path.read_text().split("\n\n")[0]
    assert f"python -m training.train_sft --config config/{name}.yaml" in path.read_text()
    assert header.startswith("#")
    modules = ATTENTION + MLP if name == "sft_smollm2_cpu" else ATTENTION  # the small model: every linear layer
    assert recipe["lora"] == {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": modules}
    assert recipe["system_prompt"] == DEFAULT_SYSTEM_PROMPT and recipe["chat_template"] == "auto"
    assert isinstance(recipe["sft"]["learning_rate"], float)


def test_cpu_recipe_matches_the_embedded_plan():
    r = load_recipe(ROOT / "config" / "sft_smollm2_cpu.yaml")
    assert r["model"] == "embedded" and r["sft"]["output_dir"] == "outputs/sft-smollm2-robot"
    assert r["lora"] == {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": ATTENTION + MLP}
    assert r["export_dir"] == "ros2_llm_controller/adapters/smollm2-robot" and r["chat_template"] == "auto"
    assert 2e-4 <= r["sft"]["learning_rate"] <= 5e-4 and r["sft"]["per_device_train_batch_size"] >= 8
    t = load_recipe(ROOT / "config" / "sft_tinyllama.yaml")
    s = t["sft"]
    assert t["model"] == "TinyLlama/TinyLlama-1.1B-Chat-v1.0" and s["num_train_epochs"] == 3
    assert s["per_device_train_batch_size"] * s["gradient_accumulation_steps"] >= 16
    assert s["learning_rate"] == 2e-4 and s["warmup_steps"] == 0.03 and s["lr_scheduler_type"] == "cosine"


@pytest.mark.parametrize("doc, match", [
    ({"lorra": {}}, "unknown recipe key 'lorra' \\(did you mean 'lora'\\?\\)"),
    ({"sft": {"output_dir": "o", "max_step": 3}}, "unknown sft key 'max_step' \\(did you mean 'max_steps'\\?\\)"),
    ({"sft": {"output_dir": "o"}, "lora": {"rank": 8}}, "unknown lora key 'rank'"),
    ({"sft": {"output_dir": "o"}, "data": {"test": "x"}}, "unknown data key 'test'"),
    ({"sft": {"output_dir": "o", "bf16": True}}, "sft.bf16 is set by the trainer from dtype"),
    ({"sft": {"output_dir": "o"}, "chat_template": "vicuna"}, "unknown chat template"),
    ({"sft": {"output_dir": "o"}, "dtype": "int8"}, "dtype must be one of"),
    ({"sft": {"output_dir": "o"}, "lora": {"r": 0}}, "lora.r must be a positive integer"),
    ({}, "sft.output_dir is required"),
])
def test_bad_recipes_are_refused_with_a_clear_message(doc, match):
    with pytest.raises(RecipeError, match=match):
        build_recipe(doc)


def test_overrides_parse_as_yaml_and_bare_sft_fields_go_to_sft():
    over = parse_overrides(["--sft.max_steps", "20", "--learning_rate=2e-4", "--export_dir", "null",
                            "--lora.target_modules", "[q_proj, v_proj]", "--merge", "true"])
    assert over == {"sft.max_steps": 20, "learning_rate": 2e-4, "export_dir": None,
                    "lora.target_modules": ["q_proj", "v_proj"], "merge": True}
    r = build_recipe({"sft": {"output_dir": "o"}, "export_dir": "x"}, over)
    assert r["sft"]["max_steps"] == 20 and r["sft"]["learning_rate"] == 2e-4 and r["export_dir"] is None
    assert r["lora"]["target_modules"] == ["q_proj", "v_proj"] and r["lora"]["r"] == 16 and r["merge"] is True
    with pytest.raises(RecipeError, match="needs a value"):
        parse_overrides(["--max_steps"])


def test_main_exits_2_on_an_unknown_key(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text("model: embedded\nsft: {output_dir: o}\nwarmup: 3\n")
    assert train_sft.main(["--config", str(path)]) == 2
    assert "unknown recipe key 'warmup'" in capsys.readouterr().err
    assert train_sft.main(["--config", str(ROOT / "config" / "sft_smollm2_cpu.yaml"), "--lora.rnk", "4"]) == 2
    assert "unknown lora key 'rnk'" in capsys.readouterr().err


def test_main_reports_a_bad_dataset_line_with_file_and_line(tiny_model_dir, tmp_path, capsys):
    write_jsonl(tmp_path / "train.jsonl", 3)
    with open(tmp_path / "train.jsonl", "a", encoding="utf-8") as f:
        f.write('{"id": "bad", "messages": [{"role": "user", "content": "hi"}, '
                '{"role": "assistant", "content": ""}]}\n')
    path = tmp_path / "r.yaml"
    path.write_text(f"model: {tiny_model_dir}\ndata: {{dir: {tmp_path}, eval: null}}\n"
                    f"sft: {{output_dir: {tmp_path}/o}}\n")
    assert train_sft.main(["--config", str(path), "--max_steps", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'train.jsonl'}:4: " in err and "empty assistant turn" in err
    assert not (tmp_path / "o" / "adapter").exists()


def test_cpu_training_arguments_follow_the_device(tmp_path):
    recipe = build_recipe({"sft": {"output_dir": str(tmp_path), "activation_checkpointing": True},
                           "data": {"eval": None}})
    said: list[str] = []
    args = train_sft.sft_config(recipe, "cpu", report=said.append)
    # Every value the recipe did not say is printed, the recipe's own True for checkpointing included.
    text = "\n".join(said)
    for key in ("bf16", "fp16", "activation_checkpointing: True -> False", "use_cpu", "dataset_kwargs",
                "remove_unused_columns", "eval_strategy"):
        assert f"sft.{key}" in text, (key, text)
    assert all(line.startswith("recipe adjusted: ") for line in said)
    assert args.use_cpu and not args.bf16 and not args.fp16 and not args.activation_checkpointing
    assert args.dataset_kwargs == {"skip_prepare_dataset": True} and args.remove_unused_columns is False
    assert args.eval_strategy == "no" and args.train_sampling_strategy == "group_by_length"
    assert args.learning_rate == 2e-4 and args.include_num_input_tokens_seen == "non_padding"
    assert train_sft.precision("auto", "cpu") == (torch.float32, {"bf16": False, "fp16": False})
    with pytest.raises(RecipeError, match="float16 needs a CUDA GPU"):
        train_sft.precision("float16", "cpu")


# ---- the real embedded model ----

def embedded_cache() -> Path:
    return Path(os.environ.get("ROS2_LLM_CONTROLLER_CACHE", ROOT / ".cache"))


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.skipif(not (embedded_cache() / "models" / "smollm2-135m-instruct" / "config.json").is_file(),
                    reason="embedded model not prepared (make model)")
def test_real_embedded_model_trains_a_few_steps(data_dir, tmp_path, monkeypatch):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("ROS2_LLM_CONTROLLER_CACHE", str(embedded_cache()))
    recipe = build_recipe({"model": "embedded", "data": {"dir": str(data_dir), "eval": None},
                           "sft": {"output_dir": str(tmp_path / "out"), "max_steps": 2,
                                   "per_device_train_batch_size": 4,
                                   "max_length": 128, "logging_steps": 1, "save_steps": 2}})
    metrics = train_sft.train(recipe)
    assert metrics["global_step"] == 2 and math.isfinite(metrics["train_loss_last"])
    assert metrics["trainable_params"] == 1_843_200  # r=16 on q/k/v/o of 30 layers (576 wide, 192-wide k/v)
    info = json.loads((tmp_path / "out" / "adapter" / "training_info.json").read_text())
    assert info["end_of_turn"] == "<|im_end|>" and info["pad_token"] != "<|im_end|>"
    base = AutoModelForCausalLM.from_pretrained(info["base_model_resolved"])
    model = PeftModel.from_pretrained(base, str(tmp_path / "out" / "adapter"))
    assert all(v.abs().sum() > 0 for k, v in lora_tensors(model).items() if "lora_B" in k)
