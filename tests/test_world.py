"""The smoke world itself: the no-key environment, the manifest and the stand-ins (the guard: test_netguard.py)."""

from __future__ import annotations

import os

import pytest

from tests.world import build, plugin, standins


def test_smoke_environment_is_the_no_key_world(tmp_path):
    env = plugin.smoke_environment(tmp_path)
    assert env["HF_HUB_OFFLINE"] == "1" and env["COURSE_QUICK"] == "1" and env["COURSE_NO_PROMPT"] == "1"
    assert not [name for name in env if name.startswith("OPENAI_") or name in plugin.KEY_VARIABLES]
    assert os.path.isfile(os.path.join(env["TIKTOKEN_CACHE_DIR"], "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"))


def test_kernels_get_no_keys():
    """The plugin removed every key before collection: tagged cells guard themselves, OpenAI chapters go local."""
    assert not [name for name in os.environ if name.startswith("OPENAI_") or name in plugin.KEY_VARIABLES]


def test_manifest_is_consistent():
    ids = [m.repo_id for m in standins.MODELS]
    assert len(ids) == len(set(ids))
    assert all(m.kind in build.MODEL_KINDS for m in standins.MODELS if m.build)
    assert standins.model(standins.CHAT_STANDIN).kind == "qwen2-chat"
    for dataset in standins.DATASETS:
        assert all(b in build.DATASET_BUILDERS for b in dataset.configs.values())


def test_course_data_answers_occur_in_contexts():
    rows = build._rows("mrc")
    assert len(rows) >= 60
    for row in rows:
        for start, text in zip(row["answers"]["answer_start"], row["answers"]["text"]):
            assert row["context"][start:start + len(text)] == text, row["guid"]
    labels = {r["label"] for r in build._rows("ynat")}
    assert labels == set(build.YNAT_LABELS)
    scores = [r["labels"]["label"] for r in build._rows("sts")]
    assert min(scores) >= 0 and max(scores) <= 5 and len(scores) >= 100


@pytest.mark.world
def test_stand_ins_load_offline_under_real_ids():
    from datasets import load_dataset
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    ynat = load_dataset("klue/klue", "ynat")
    assert ynat["train"].features["label"].names == build.YNAT_LABELS
    assert set(load_dataset("klue/klue", "mrc")) == {"train", "validation"}
    tok = AutoTokenizer.from_pretrained("klue/roberta-base")
    assert tok.unk_token_id not in tok("한국어 문장은 모르는 낱말 없이 토큰화된다")["input_ids"]
    assert tok.convert_ids_to_tokens(tok("뷁")["input_ids"])[1] != tok.unk_token
    chat = AutoTokenizer.from_pretrained(standins.CHAT_STANDIN)
    rendered = chat.apply_chat_template([{"role": "user", "content": "안녕"}], tokenize=False,
                                        add_generation_prompt=True)
    assert rendered.endswith("<|im_start|>assistant\n")
    assert SentenceTransformer("jhgan/ko-sroberta-multitask", device="cpu").encode(["가", "나"]).shape[0] == 2

