"""The ONNX Runtime GenAI backend against the torch reference, on a tiny model exported by the real
onnxruntime-genai model builder (``model_store.export_onnx``): same greedy answers with and without the
grammar, a prefix cache that never changes an answer, cancellation, and the closed-set scores."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("onnxruntime_genai")
torch = pytest.importorskip("torch")

from tiny_llm import save_sharp  # noqa: E402

from ros2_llm_controller.core.config import DEFAULT_SYSTEM_PROMPT  # noqa: E402
from ros2_llm_controller.core.generation import GenerationCancelled  # noqa: E402
from ros2_llm_controller.core.grammar import regex_for_command  # noqa: E402
from ros2_llm_controller.core.hf_generator import HFGenerator  # noqa: E402
from ros2_llm_controller.core.model_store import export_onnx  # noqa: E402
from ros2_llm_controller.core.ort_generator import OrtGenerator  # noqa: E402
from ros2_llm_controller.core.planner import build_messages  # noqa: E402

pytestmark = pytest.mark.timeout(600)
COMMANDS = ["go forward 2 m then turn left 90 degrees", "what is your battery level", "rotate 45 degrees clockwise",
            "go to the kitchen"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(torch generator, ONNX generator) of one tiny model whose answers depend on the whole prompt."""
    src = save_sharp(tmp_path_factory.mktemp("tiny_src"), seed=3)
    onnx_dir = export_onnx(src, adapter=None, precision="fp32", out_dir=tmp_path_factory.mktemp("x") / "onnx")
    kw = dict(chat_template="chatml", max_new_tokens=12)
    return HFGenerator(src, device="cpu", **kw), OrtGenerator(str(onnx_dir), **kw)


def _msgs(command: str):
    return build_messages(command, DEFAULT_SYSTEM_PROMPT)


@pytest.mark.parametrize("constrained", [False, True])
def test_onnx_answers_equal_torch_answers(pair, constrained):
    ref, ort = pair
    for command in COMMANDS:
        grammar = regex_for_command(command) if constrained else None
        want = ref.generate(_msgs(command), grammar=grammar)
        got = ort.generate(_msgs(command), grammar=grammar)
        assert got.text == want.text, command
        assert got.new_tokens == want.new_tokens and got.forced_tokens == want.forced_tokens


def test_cache_reuse_never_changes_an_answer(pair):
    """Prompts that share less, more, or all of the cache's tokens (rewind, then feed the rest)."""
    _, ort = pair
    fresh = {c: ort.generate(_msgs(c)).text for c in COMMANDS}
    for c in reversed(COMMANDS * 2):
        assert ort.generate(_msgs(c)).text == fresh[c]
    ort._og, ort._tokens = None, []
    assert ort.generate(_msgs(COMMANDS[1])).text == fresh[COMMANDS[1]]


def test_cancel_before_and_during_prefill(pair):
    _, ort = pair
    ort.prefill_chunk_tokens = 4
    try:
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(GenerationCancelled):
            ort.generate(_msgs(COMMANDS[0]), cancel=cancel)
    finally:
        ort.prefill_chunk_tokens = 32
    ref = pair[0].generate(_msgs(COMMANDS[2])).text
    assert ort.generate(_msgs(COMMANDS[2])).text == ref  # usable afterwards, cache consistent


def test_closed_set_scores_equal_torch_scores(pair):
    ref, ort = pair
    alternatives = ["query battery", "query obstacles", "reply question", "stop", "reply unclear"]
    for command in COMMANDS[:2]:
        scores = []
        for gen in (ref, ort):
            ids, user_start = gen.encode_prompt(_msgs(command))
            with torch.inference_mode():
                _, _, _, state = gen._decode(ids, user_start, 4, None, 0.0, keep_prompt=True)
                scores.append(gen._alternative_logprobs(len(ids), state, alternatives, None))
        assert scores[1] == pytest.approx(scores[0], abs=2e-3)


def test_describe_and_bad_folder(pair, tmp_path):
    from ros2_llm_controller.core.generation import GenerationError

    assert pair[1].describe()["backend"] == "onnx"
    with pytest.raises(GenerationError, match="genai_config"):
        OrtGenerator(str(tmp_path), chat_template="chatml")


def test_concurrent_calls_give_the_answers_of_sequential_calls(pair):
    """One shared og.Generator: calls from two threads (re-ranking included) must not interleave."""
    _, ort = pair
    alternatives = ("query battery", "query obstacles", "reply question", "stop", "reply unclear")
    want = {c: ort.generate(_msgs(c), alternatives=alternatives).text for c in COMMANDS}
    got: dict[str, list[str]] = {c: [] for c in COMMANDS}

    def worker():
        for c in COMMANDS * 2:
            got[c].append(ort.generate(_msgs(c), alternatives=alternatives).text)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(v == [want[c]] * 4 for c, v in got.items()), got
