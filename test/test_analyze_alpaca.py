"""training.alpaca end to end on a small planted fixture, its loaders, parsers and fallbacks,
and once on the real Alpaca file when it is present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_quality import PLANTED, RECORDS

from training.alpaca import parse as alpaca_parse
from training.alpaca.io import DataSourceError, load_records
from training.alpaca.parse import FirstWordParser, make_parser
from training.alpaca.stats import load_tokenizer, summarize
from training.alpaca.analyze import analyze, main

ALPACA = Path("/work/shared/data/alpaca_data.json")
STAT_KEYS = {"min", "p25", "median", "mean", "p75", "p95", "max"}


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> str:
    from tiny_llm import make_tokenizer

    path = tmp_path_factory.mktemp("tok")
    make_tokenizer().save_pretrained(path)
    return str(path)


@pytest.fixture()
def data_files(tmp_path) -> dict[str, Path]:
    import pandas as pd

    files = {"json": tmp_path / "d.json", "jsonl": tmp_path / "d.jsonl", "parquet": tmp_path / "d.parquet"}
    files["json"].write_text(json.dumps(RECORDS), encoding="utf-8")
    files["jsonl"].write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n", encoding="utf-8")
    pd.DataFrame(RECORDS).to_parquet(files["parquet"])
    return files


def test_json_jsonl_parquet_load_identically(data_files):
    loaded = {k: load_records(p) for k, p in data_files.items()}
    assert loaded["json"] == RECORDS
    assert loaded["jsonl"] == loaded["json"] == loaded["parquet"]
    assert load_records(data_files["jsonl"], limit=5) == RECORDS[:5]


def test_jsonl_content_in_a_json_file_and_missing_input_field(tmp_path):
    p = tmp_path / "lines.json"
    p.write_text('{"instruction": "Say hi.", "output": "hi"}\n{"instruction": "Stop.", "output": "stop"}\n')
    assert load_records(p) == [{"instruction": "Say hi.", "input": "", "output": "hi"},
                               {"instruction": "Stop.", "input": "", "output": "stop"}]


def test_bad_sources_raise_clear_errors(tmp_path):
    with pytest.raises(DataSourceError, match="no such file"):
        load_records(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"prompt": "x", "completion": "y"}]))
    with pytest.raises(DataSourceError, match="record 0 has no instruction/output"):
        load_records(bad)


def test_hub_id_unreachable_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub is unreachable here; make that fast and certain
    with pytest.raises(DataSourceError, match="could not load 'tatsu-lab/alpaca' from the Hugging Face hub"):
        load_records("tatsu-lab/alpaca")


def test_summarize_percentiles():
    import numpy as np

    s = summarize(np.arange(1, 101))
    assert s == {"min": 1.0, "p25": 25.75, "median": 50.5, "mean": 50.5, "p75": 75.25, "p95": 95.05, "max": 100.0}


def test_first_word_parser():
    pairs = FirstWordParser().parse([{"instruction": '"Write" a poem.'}, {"instruction": "  "},
                                     {"instruction": "What is AI?"}]).pairs
    assert pairs == [("write", None), (None, None), ("what", None)]


def test_spacy_missing_falls_back_to_first_word(monkeypatch):
    monkeypatch.setattr(alpaca_parse, "SPACY_MODELS", ("no_such_spacy_model_xyz",))
    p = make_parser("spacy")
    assert isinstance(p, FirstWordParser)
    assert "no_such_spacy_model_xyz" in p.info["fallback_reason"]


def test_analysis_on_planted_fixture(tmp_path, data_files, tokenizer_dir):
    out = tmp_path / "report"
    records = load_records(data_files["json"])
    s = analyze(records, out, source=str(data_files["json"]), tokenizer=tokenizer_dir, parser="first-word",
                cache_dir=tmp_path / "cache", top=5)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["n_records"] == len(RECORDS) == s["n_records"]
    for key in ("instruction_words", "output_words", "instruction_tokens", "output_tokens"):
        assert set(on_disk[key]) >= STAT_KEYS and all(isinstance(v, (int, float)) for v in on_disk[key].values())
    assert on_disk["instruction_words"]["max"] == max(len(r["instruction"].split()) for r in RECORDS)
    assert on_disk["output_words"]["min"] == 0  # the empty outputs
    assert on_disk["instruction_tokens"]["mean"] > on_disk["instruction_words"]["mean"]  # 512-token BPE
    verbs = dict(map(tuple, on_disk["top_root_verbs"]))
    assert verbs["give"] == 4 and len(verbs) == 5 and all(isinstance(c, int) for c in verbs.values())
    assert on_disk["top_verb_objects"] == []  # the fallback finds no objects
    by_task = on_disk["output_words_by_task"]
    assert by_task["give"]["n"] == 4 and set(by_task["give"]) == {"mean", "median", "n"}
    assert set(on_disk["output_tokens_by_task"]) == set(by_task)
    # The fallback is labelled as such wherever a reader looks.
    assert on_disk["parser"]["name"] == "first-word" and "first-word" in on_disk["parser"]["label"]
    report = (out / "report.md").read_text()
    assert "first-word heuristic (fallback" in report and "FALLBACK" in report
    # Exact detector counts and indices on the planted records.
    low = on_disk["low_quality"]
    for name in low:
        planted = [i for i, (_, d) in enumerate(PLANTED) if d == name]
        assert low[name]["count"] == len(planted) and low[name]["indices"] == planted
    assert on_disk["low_quality_any"] == sum(d is not None for _, d in PLANTED)
    assert len(on_disk["examples"]) >= 5
    for ex in on_disk["examples"]:
        assert ex["index"] in low[ex["detector"]]["indices"] and ex["why"]
        assert ex["instruction"] == " ".join(RECORDS[ex["index"]]["instruction"].split())
    assert set(on_disk["timings"]) >= {"load tokenizer", "token counts", "dependency parse", "quality detectors"}
    # PNGs exist, are PNGs, and the report links each one relatively.
    for name in on_disk["images"].values():
        png = out / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f"]({name})" in report


def test_no_tokenizer_means_word_counts_only(tmp_path):
    tok, why = load_tokenizer(str(tmp_path / "no_tokenizer_here"))
    assert tok is None and "could not be loaded" in why
    s = analyze(RECORDS[:12], tmp_path / "out", source="fixture", tokenizer=str(tmp_path / "nope"),
                parser="first-word", cache_dir=None)
    assert s["instruction_tokens"] is None and s["output_tokens_by_task"] is None
    assert s["instruction_words"]["max"] > 0 and not s["tokenizer"]["loaded"]


def test_cli(tmp_path, data_files, tokenizer_dir):
    out = tmp_path / "cli"
    rc = main(["--data", str(data_files["parquet"]), "--out", str(out), "--parser", "first-word",
               "--tokenizer", tokenizer_dir, "--limit", "20", "--cache-dir", str(tmp_path / "c")])
    assert rc == 0 and json.loads((out / "summary.json").read_text())["n_records"] == 20
    assert main(["--data", str(tmp_path / "missing.json"), "--out", str(out)]) == 2



@pytest.mark.slow
def test_spacy_root_verb_and_object_with_cache(tmp_path):
    p = make_parser("spacy")
    if isinstance(p, FirstWordParser):
        pytest.skip(p.info["fallback_reason"])
    records = [{"instruction": t} for t in (
        "Write a short story about a dragon.", "Give three tips for staying healthy.",
        "Rewrite the following sentence in the passive voice.", "What is the capital of France?",
        "Explain why the sky is blue.")]
    first = p.parse(records, cache_dir=tmp_path)
    assert first.pairs[:3] == [("write", "story"), ("give", "tip"), ("rewrite", "sentence")]
    assert first.pairs[4][0] == "explain" and first.pairs[3] == (None, None)
    assert not first.info["cache_hit"] and len(list(tmp_path.glob("parse-*.json"))) == 1
    second = p.parse(records, cache_dir=tmp_path)
    assert second.info["cache_hit"] and second.pairs == first.pairs and second.info["uncached_seconds"] > 0
    changed = [dict(records[0], instruction="Compose a song about rain."), *records[1:]]
    third = p.parse(changed, cache_dir=tmp_path)
    assert not third.info["cache_hit"] and third.pairs[0] == ("compose", "song")
    assert len(list(tmp_path.glob("parse-*.json"))) == 2


@pytest.mark.slow
@pytest.mark.skipif(not ALPACA.exists(), reason="shared Alpaca file not present")
def test_full_alpaca_file_first_word(tmp_path, tokenizer_dir):
    records = load_records(ALPACA)
    s = analyze(records, tmp_path / "full", source=str(ALPACA), tokenizer=tokenizer_dir, parser="first-word",
                cache_dir=None)
    assert s["n_records"] == 52002
    iw, ow = s["instruction_words"], s["output_words"]
    assert iw["min"] >= 1 and 5 <= iw["median"] <= 20 and iw["max"] < 200
    assert ow["min"] == 0 and 10 <= ow["median"] <= 60 and ow["p95"] < ow["max"]
    assert 0.3 < s["share_with_input"] < 0.5
    assert {v for v, _ in s["top_root_verbs"][:5]} >= {"generate", "create", "write"}
    low = s["low_quality"]
    assert low["merged_instructions"]["count"] >= 20 and low["placeholder_input"]["count"] >= 500
    # Precision guard: no detector flags more than 2% of the data.
    assert all(v["count"] < 0.02 * 52002 for v in low.values())
