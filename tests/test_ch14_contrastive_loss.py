"""The CLIP contrastive loss written in ch14_multimodal/ch14.ipynb, loaded from the notebook and checked."""

import math
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

NOTEBOOK = Path(__file__).resolve().parents[1] / "ch14_multimodal" / "ch14.ipynb"


@pytest.fixture(scope="module")
def clip_contrastive_loss():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    sources = [c.source for c in nb.cells if c.cell_type == "code" and "def clip_contrastive_loss" in c.source]
    assert len(sources) == 1, "exactly one notebook cell defines clip_contrastive_loss"
    namespace = {"torch": torch}  # imported by an earlier notebook cell
    exec(compile(sources[0], str(NOTEBOOK), "exec"), namespace)  # noqa: S102  (our own notebook cell)
    return namespace["clip_contrastive_loss"]


def reference_loss(image, text, logit_scale):
    """Written out with explicit loops: mean over both directions of -log softmax at the matching pair."""
    image = [v / v.norm() for v in image]
    text = [v / v.norm() for v in text]
    n, scale = len(image), logit_scale.exp()
    sim = [[float(scale * (text[i] @ image[j])) for j in range(n)] for i in range(n)]
    text_to_image = -sum(sim[i][i] - math.log(sum(math.exp(x) for x in sim[i])) for i in range(n)) / n
    cols = [[sim[i][j] for i in range(n)] for j in range(n)]
    image_to_text = -sum(cols[j][j] - math.log(sum(math.exp(x) for x in cols[j])) for j in range(n)) / n
    return (text_to_image + image_to_text) / 2


def test_equals_written_out_reference(clip_contrastive_loss):
    torch.manual_seed(0)
    image, text = torch.randn(6, 16, dtype=torch.float64), torch.randn(6, 16, dtype=torch.float64)
    logit_scale = torch.tensor(math.log(1 / 0.07), dtype=torch.float64)
    ours = clip_contrastive_loss(image, text, logit_scale).item()
    assert ours == pytest.approx(reference_loss(image, text, logit_scale), rel=1e-9)


def test_equals_the_loss_function_clipmodel_uses(clip_contrastive_loss):
    from transformers.models.clip import modeling_clip

    library_loss = getattr(modeling_clip, "image_text_contrastive_loss", None) or modeling_clip.clip_loss  # v5 / v4
    torch.manual_seed(0)
    image, text = torch.randn(6, 16), torch.randn(6, 16)
    logit_scale = torch.tensor(math.log(1 / 0.07))
    logits_per_text = logit_scale.exp() * F.normalize(text, dim=-1) @ F.normalize(image, dim=-1).T
    assert torch.allclose(clip_contrastive_loss(image, text, logit_scale), library_loss(logits_per_text), atol=1e-6)


def test_symmetric_in_images_and_texts(clip_contrastive_loss):
    torch.manual_seed(1)
    image, text, scale = torch.randn(5, 8), torch.randn(5, 8), torch.tensor(2.0)
    assert torch.allclose(clip_contrastive_loss(image, text, scale), clip_contrastive_loss(text, image, scale))


def test_identical_embeddings_give_log_n(clip_contrastive_loss):
    n = 7
    same = torch.ones(n, 4)
    loss = clip_contrastive_loss(same, same, torch.tensor(3.0))
    assert loss.item() == pytest.approx(math.log(n), rel=1e-6)


def test_scale_invariant_to_vector_length(clip_contrastive_loss):
    torch.manual_seed(2)
    image, text, scale = torch.randn(4, 8), torch.randn(4, 8), torch.tensor(1.0)
    assert torch.allclose(clip_contrastive_loss(image, text, scale), clip_contrastive_loss(10 * image, 0.1 * text, scale))


def test_matched_pairs_beat_shuffled_pairs(clip_contrastive_loss):
    eye = torch.eye(4)  # orthogonal, perfectly paired embeddings
    scale = torch.tensor(math.log(100.0))
    matched = clip_contrastive_loss(eye, eye, scale)
    shuffled = clip_contrastive_loss(eye, eye.roll(1, dims=0), scale)
    assert matched.item() < 1e-3 < shuffled.item()


def test_gradient_reaches_both_towers_and_the_temperature(clip_contrastive_loss):
    torch.manual_seed(3)
    image = torch.randn(3, 8, requires_grad=True)
    text = torch.randn(3, 8, requires_grad=True)
    scale = torch.tensor(1.0, requires_grad=True)
    clip_contrastive_loss(image, text, scale).backward()
    assert image.grad.abs().sum() > 0 and text.grad.abs().sum() > 0 and scale.grad is not None


def test_reordering_the_pairs_together_keeps_the_loss(clip_contrastive_loss):
    """The batch order carries no meaning: permuting images and texts by the same order keeps the loss."""
    torch.manual_seed(4)
    image, text, scale = torch.randn(6, 8), torch.randn(6, 8), torch.tensor(2.0)
    order = torch.randperm(6)
    assert torch.allclose(clip_contrastive_loss(image, text, scale),
                          clip_contrastive_loss(image[order], text[order], scale), atol=1e-6)
