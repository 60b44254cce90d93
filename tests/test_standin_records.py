"""The smoke world's stand-ins follow the record of the real artefacts (tests/world/records.py).

Unit tests of the comparison run anywhere; the `world` tests check every built stand-in and prepared dataset,
and plant differences (a tokenizer that drops token_type_ids, 32-wide layers) that the comparison must catch.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.world import build, records, standins, verify

BUILT = [m.repo_id for m in standins.MODELS if m.build]


def snapshot(repo_id: str) -> Path:
    import os

    return (Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo_id.replace("/", "--")) / "snapshots"
            / build.commit_hash(repo_id))


def recorded_values(repo_id: str) -> dict:
    return {name: f.value for name, f in records.MODEL_RECORDS[repo_id].items()}


# ---------------------------------------------------------------------------- the record itself

def test_every_manifest_entry_has_a_record():
    assert {m.repo_id for m in standins.MODELS} == set(records.MODEL_RECORDS)
    assert {d.repo_id for d in standins.DATASETS} == set(records.DATASET_RECORDS)
    for dataset in standins.DATASETS:
        assert set(dataset.configs) == set(records.DATASET_RECORDS[dataset.repo_id])


def test_every_fact_has_a_kind_and_a_source():
    for repo_id, facts in records.MODEL_RECORDS.items():
        assert "config.architectures" in facts, repo_id
        for name, fact in facts.items():
            assert fact.kind in (records.EXACT, records.SCALED, records.INFO), (repo_id, name)
            assert len(fact.source) > 10, (repo_id, name)
            if fact.kind == records.SCALED:
                assert isinstance(fact.value, int) and fact.value > 0, (repo_id, name)
    for configs in records.DATASET_RECORDS.values():
        for facts in configs.values():
            assert {"features", "splits"} <= set(facts)
    assert records.unsourced_facts(), "the record lists what it could not source"


def test_klue_roberta_record_is_the_real_failure():
    """The record keeps the fact that broke ch03/ch11: type ids emitted, type_vocab_size 1."""
    for repo_id in ("klue/roberta-base", "klue/roberta-small"):
        facts = recorded_values(repo_id)
        assert "token_type_ids" in facts["tokenizer.single_keys"]
        assert facts["tokenizer.pair_second_type_id"] == 1 and facts["config.type_vocab_size"] == 1


# ---------------------------------------------------------------------------- the comparison (no world)

def test_comparison_accepts_the_record_and_catches_each_kind_of_difference():
    repo_id = "klue/roberta-base"
    seen = {name: value for name, value in recorded_values(repo_id).items()}
    seen["config.hidden_size"] = 64  # scaled down: fine
    assert verify.compare(repo_id, seen) == []

    dropped = {**seen, "tokenizer.single_keys": ["attention_mask", "input_ids"]}
    assert any("tokenizer.single_keys" in p for p in verify.compare(repo_id, dropped))
    assert any("type_vocab_size" in p for p in verify.compare(repo_id, {**seen, "config.type_vocab_size": 2}))
    assert any("hidden_size" in p for p in verify.compare(repo_id, {**seen, "config.hidden_size": 1024}))
    missing = {k: v for k, v in seen.items() if k != "tokenizer.pair_second_type_id"}
    assert any("does not show it" in p for p in verify.compare(repo_id, missing))


def test_dataset_comparison_catches_small_splits_and_answerable_only_mrc():
    record = {name: f.value for name, f in records.DATASET_RECORDS["klue/klue"]["mrc"].items()}
    seen = {**record, "unanswerable_share": 0.31, "context_chars": 900}
    assert verify.compare_dataset("klue/klue", "mrc", seen) == []
    assert verify.compare_dataset("klue/klue", "mrc", {**seen, "splits": {"train": 58, "validation": 19}})
    assert verify.compare_dataset("klue/klue", "mrc", {**seen, "unanswerable_share": 0.0})
    assert verify.compare_dataset("klue/klue", "mrc", {**seen, "context_chars": 250})


# ---------------------------------------------------------------------------- the built world

@pytest.mark.world
@pytest.mark.parametrize("repo_id", BUILT)
def test_built_standin_follows_its_record(repo_id):
    problems = verify.model_differences(repo_id, snapshot(repo_id))
    assert problems == [], "\n".join(problems)


@pytest.mark.world
def test_planted_tokenizer_without_token_type_ids_is_caught(tmp_path):
    """The old stand-in (a KLUE tokenizer that returns no token_type_ids) must fail the comparison."""
    planted = tmp_path / "roberta"
    shutil.copytree(snapshot("klue/roberta-base"), planted)
    config_path = planted / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["model_input_names"] = ["input_ids", "attention_mask"]
    config_path.write_text(json.dumps(config))
    problems = verify.model_differences("klue/roberta-base", planted)
    assert any("tokenizer.single_keys" in p for p in problems), problems
    assert any("tokenizer.pair_second_type_id" in p for p in problems), problems


@pytest.mark.world
def test_planted_32_wide_chat_model_is_caught(tmp_path):
    """The old Qwen stand-in (32 wide, 4 heads / 2 kv heads) breaks the 64-value block and the GQA ratio."""
    planted = tmp_path / "qwen"
    planted.mkdir()
    config = json.loads((snapshot(standins.CHAT_STANDIN) / "config.json").read_text())
    config.update(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2)
    config.pop("head_dim", None)
    (planted / "config.json").write_text(json.dumps(config))
    problems = verify.width_problems(standins.CHAT_STANDIN, planted)
    assert any("not a multiple of 64" in p for p in problems), problems
    seen = {**recorded_values(standins.CHAT_STANDIN), "config.num_attention_heads": 4}
    assert any("num_attention_heads" in p for p in verify.compare(standins.CHAT_STANDIN, seen))


@pytest.mark.world
def test_prepared_datasets_follow_the_record():
    problems = verify.dataset_differences("klue/klue")
    assert problems == [], "\n".join(problems)


@pytest.mark.world
def test_generated_mrc_rows_keep_true_answer_spans():
    from datasets import load_dataset

    mrc = load_dataset("klue/klue", "mrc")
    for split in mrc.values():
        for row in split:
            starts, texts = row["answers"]["answer_start"], row["answers"]["text"]
            if row["is_impossible"]:
                assert starts == [] and texts == [], row["guid"]
            else:
                assert texts and all(row["context"][s:s + len(t)] == t for s, t in zip(starts, texts)), row["guid"]
    assert len(set(mrc["validation"]["guid"])) == len(mrc["validation"])


# ---------------------------------------------------------------------------- both bitsandbytes CPU paths

def _standin_linears():
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(snapshot(standins.CHAT_STANDIN)), dtype=torch.float32)
    return {re.sub(r"\.\d+\.", ".N.", n): m for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and "lm_head" not in n}


@pytest.mark.world
def test_standin_layers_survive_the_avx512_bf16_weight_packing():
    """bitsandbytes repacks 4-bit weights on CPUs with AVX512-BF16 (pure torch reshapes, run here on any CPU):
    every stand-in layer must survive it and unpack to the same weights; a 32-wide layer must not."""
    import torch
    from bitsandbytes import functional as F

    for name, linear in _standin_linears().items():
        qweight, state = F.quantize_4bit(linear.weight.data, blocksize=64, quant_type="nf4", compress_statistics=True)
        original = qweight.clone()
        packed, packed_state = F._convert_weight_packed_for_cpu(qweight, state)
        restored, _ = F._convert_weight_packed_for_cpu_inverse(packed, packed_state)
        assert torch.equal(restored.reshape(-1).view(torch.uint8), original.reshape(-1).view(torch.uint8)), name
    narrow = torch.nn.Linear(32, 64).weight.data
    qweight, state = F.quantize_4bit(narrow, blocksize=64, quant_type="nf4")
    with pytest.raises(RuntimeError):
        F._convert_weight_packed_for_cpu(qweight, state)


@pytest.mark.world
@pytest.mark.parametrize("packed_path", [False, True])
def test_4bit_standin_layers_on_both_cpu_paths(monkeypatch, packed_path):
    """Linear4bit forward on the plain CPU path (forced) and, where the CPU has AVX512-BF16, the packed one."""
    import bitsandbytes as bnb
    import torch
    from bitsandbytes import functional as F

    if packed_path and not F.has_avx512bf16():
        pytest.skip("this CPU has no avx512_bf16: the packed path cannot run here")
    monkeypatch.setattr(bnb.nn.modules, "has_avx512bf16", lambda: packed_path)
    torch.manual_seed(0)
    for name, linear in _standin_linears().items():
        layer = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=linear.bias is not None,
                                  compute_dtype=torch.bfloat16, quant_type="nf4")
        layer.load_state_dict(linear.state_dict())
        layer = layer.to("cpu").eval()
        x = torch.randn(3, linear.in_features, dtype=torch.bfloat16)
        with torch.no_grad():
            out = layer(x)
        assert getattr(layer.weight.quant_state, "packing_format_for_cpu", False) == packed_path, name
        dequant = F.dequantize_4bit(*(_plain_weight(layer)), quant_type="nf4") if not packed_path else None
        reference = x.float() @ (dequant if dequant is not None else linear.weight.data).float().T
        if linear.bias is not None:
            reference += linear.bias.data.float()
        tolerance = 0.05 if dequant is not None else 0.5  # against the 4-bit weights / the fp32 weights
        assert out.shape == (3, linear.out_features), name
        assert (out.float() - reference).abs().max() <= tolerance * reference.abs().max() + 1e-3, name


def _plain_weight(layer):
    return layer.weight.data, layer.weight.quant_state
