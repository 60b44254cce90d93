"""Notebook code of ch11 that needs no model: `sts_pairs` (11.2.3) and `info_nce` (11.2.1).

The definitions are loaded from the notebook itself (tests/notebook_defs.py), so these tests check the code
learners read. The column-order check moved here from the notebook (issue 15: bookkeeping asserts become tests).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict

from tests.notebook_defs import load_definitions

NOTEBOOK = Path(__file__).resolve().parents[1] / "ch11_embedding_training" / "ch11.ipynb"


def klue_sts_like(n: int) -> Dataset:
    """Rows shaped like KLUE STS: extra columns around the two sentences, the score nested in `labels`."""
    return Dataset.from_dict({
        "guid": [f"g{i}" for i in range(n)],
        "source": ["wiki"] * n,
        "sentence1": [f"문장 {i}" for i in range(n)],
        "sentence2": [f"다른 문장 {i}" for i in range(n)],
        "labels": [{"label": 5.0 * i / max(n - 1, 1), "real-label": 0.0, "binary-label": i % 2}
                   for i in range(n)],
    })


@pytest.fixture(scope="module")
def sts_pairs():
    namespace = {"__name__": "notebook_definitions",
                 "sts": DatasetDict({"train": klue_sts_like(6), "validation": klue_sts_like(3)})}
    return load_definitions(NOTEBOOK, {"sts_pairs"}, set(), namespace)["sts_pairs"]


def test_sts_pairs_keeps_inputs_then_score(sts_pairs):
    pairs = sts_pairs("train")
    assert pairs.column_names == ["sentence1", "sentence2", "score"]
    assert pairs["score"] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert pairs[0]["sentence1"] == "문장 0" and pairs[0]["sentence2"] == "다른 문장 0"


def test_sts_pairs_rows_limit(sts_pairs):
    assert len(sts_pairs("train", 4)) == 4
    assert len(sts_pairs("validation", 10)) == 3  # never more rows than the split has


@pytest.fixture(scope="module")
def info_nce():
    return load_definitions(NOTEBOOK, {"info_nce"}, {"torch"})["info_nce"]


def test_info_nce_matches_cross_entropy_of_scaled_cosines(info_nce):
    torch.manual_seed(0)
    q, d = torch.randn(3, 5), torch.randn(6, 5)  # 3 positives + 3 hard negatives
    cos = torch.nn.functional.cosine_similarity(q[:, None], d[None], dim=-1)
    expected = torch.nn.functional.cross_entropy(20.0 * cos, torch.arange(3))
    assert torch.isclose(info_nce(q, d), expected, atol=1e-5)
    assert info_nce(q, torch.ones(6, 5)).item() == pytest.approx(math.log(6), abs=1e-5)
