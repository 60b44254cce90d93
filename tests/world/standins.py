"""The one manifest of the smoke world.

Every Hub model id, Hub dataset id and OpenAI model name that a notebook names is listed here.
The test harness builds a tiny, randomly initialised, seeded stand-in for each entry with
``build=True`` under the REAL id (see ``tests/world/build.py``), following the record of the real artefact in
``tests/world/records.py`` (interface facts exact, sizes scaled; checked by tests/test_standin_records.py); entries with ``build=False`` are
used only in ``gpu`` / ``needs-key`` cells and are listed so that the hygiene test knows them.

To add a model: append a ``Model(...)`` with the kind that matches its architecture
(see ``MODEL_KINDS`` in build.py) and, if needed, tiny config overrides (widths multiples of 64), and write
its record (with sources) in records.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Model:
    repo_id: str
    kind: str  # builder in build.py: bert, roberta, gpt2, qwen2-chat, sentence-transformer, cross-encoder, clip, mamba
    config: dict = field(default_factory=dict)  # overrides of the kind's tiny config
    build: bool = True  # False: only named in gpu / needs-key cells
    note: str = ""


@dataclass(frozen=True)
class Dataset:
    repo_id: str
    configs: dict  # config name -> builder name in build.py (DATASET_BUILDERS)
    note: str = ""


# The OpenAI-compatible server in the smoke world answers every model name with this stand-in.
CHAT_STANDIN = "Qwen/Qwen2.5-0.5B-Instruct"

MODELS: list[Model] = [
    # ---- encoders (Korean WordPiece vocab, like the real KLUE tokenizers)
    Model("klue/bert-base", "bert", note="ch03 BERT"),
    Model("klue/roberta-base", "roberta", note="ch03 classifier, ch11 base encoder"),
    Model("klue/roberta-small", "roberta", {"num_hidden_layers": 1}, note="small encoder for training demos"),
    # ---- decoders (byte-level BPE)
    Model("openai-community/gpt2", "gpt2", note="ch03 GPT-2"),
    Model(CHAT_STANDIN, "qwen2-chat", note="local chat model; also the OpenAI server stand-in"),
    Model("Qwen/Qwen2.5-1.5B-Instruct", "qwen2-chat", {"intermediate_size": 768, "num_hidden_layers": 3},
          note="bigger target model (same tokenizer) for speculative decoding"),
    Model("Qwen/Qwen2.5-0.5B-Instruct-GPTQ-Int4", "qwen2-chat", build=False,
          note="ch07 pre-quantized GPTQ (gpu cells only)"),
    Model("Qwen/Qwen2.5-0.5B-Instruct-AWQ", "qwen2-chat", build=False, note="ch07 prequantized AWQ, gpu"),
    # ---- embeddings and rerankers
    Model("jhgan/ko-sroberta-multitask", "sentence-transformer", note="Korean sentence embeddings"),
    Model("BAAI/bge-reranker-v2-m3", "cross-encoder", note="multilingual reranker"),
    # ---- multimodal
    Model("openai/clip-vit-base-patch32", "clip", note="CLIP image-text embeddings"),
    Model("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava", build=False,
          note="ch14 LLaVA-style VQA (gpu cells only)"),
    # ---- state space models
    Model("state-spaces/mamba-130m-hf", "mamba", note="pretrained Mamba (slow path on CPU)"),
]

DATASETS: list[Dataset] = [
    Dataset("klue/klue", {"ynat": "klue_ynat", "sts": "klue_sts", "mrc": "klue_mrc"},
            note="built from assets/klue_like/*.jsonl"),
]

# OpenAI model names the notebooks use. Chat names are served by CHAT_STANDIN on loopback;
# the others appear only in needs-key cells (the local server has no embeddings or images).
OPENAI_CHAT_MODELS: list[str] = ["gpt-4.1-mini", "gpt-4.1-nano"]
OPENAI_KEY_ONLY_MODELS: list[str] = ["text-embedding-3-small", "gpt-image-1"]


def model(repo_id: str) -> Model:
    for entry in MODELS:
        if entry.repo_id == repo_id:
            return entry
    raise KeyError(f"{repo_id!r} is not in tests/world/standins.py")


def all_hub_ids() -> set[str]:
    return {m.repo_id for m in MODELS} | {d.repo_id for d in DATASETS}


def all_openai_names() -> set[str]:
    return set(OPENAI_CHAT_MODELS) | set(OPENAI_KEY_ONLY_MODELS)
