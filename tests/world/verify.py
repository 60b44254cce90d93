"""Compare a built stand-in with the record of the real artefact (``records.py``).

    observe_model(repo_id, path)  -> {fact name: value seen in the stand-in}
    model_differences(repo_id, path) -> ["klue/roberta-base tokenizer.single_keys: ...", ...]   ([] = follows the record)
    dataset_differences(repo_id)  -> the same for the prepared datasets (needs HF_HOME pointing at the world)

Exact facts must be equal, scaled sizes must not exceed the real ones, and every Linear layer whose width in
the real model is a multiple of the 64-value quantization block (input side) or of bitsandbytes' 32-row CPU
packing (output side) must be one in the stand-in too (checked on meta-device models, no weights).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.world import records
from tests.world.records import EXACT, INFO, SCALED

QUANT_BLOCK = 64  # bitsandbytes' 4-bit block: absmax is reshaped to (out, in // 64) on AVX512-BF16 CPUs
PACK_ROWS = 32  # _convert_weight_packed_for_cpu(block_n=32): out_features % 32 == 0
PROBE_TOOL = {"type": "function", "function": {"name": "probe_tool_name", "description": "probe",
                                               "parameters": {"type": "object", "properties": {}}}}


def _tokenizer_facts(names: set[str], path: Path) -> dict:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    seen: dict = {"tokenizer.class": type(tok).__name__,
                  "tokenizer.single_keys": sorted(tok("한국어 문장을 토큰화합니다").keys()),
                  "tokenizer.model_max_length": tok.model_max_length,
                  "tokenizer.chat_template": bool(getattr(tok, "chat_template", None))}
    pair = tok("첫 번째 문장", "두 번째 문장")
    seen["tokenizer.pair_second_type_id"] = max(pair["token_type_ids"]) if "token_type_ids" in pair else None
    seen["tokenizer.do_lower_case"] = getattr(tok, "do_lower_case", None)
    seen["tokenizer.added_tokens"] = [t.content for _, t in sorted(tok.added_tokens_decoder.items())]
    seen["_tok"] = tok
    if seen["tokenizer.chat_template"]:
        text = tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)
        match = re.search(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", text, re.DOTALL)
        seen["tokenizer.default_system_prompt"] = match.group(1) if match else None
        with_tools = tok.apply_chat_template([{"role": "user", "content": "x"}], tools=[PROBE_TOOL], tokenize=False)
        seen["tokenizer.template_renders_tools"] = "probe_tool_name" in with_tools
    return seen


def _attr_path(obj, dotted: str):
    if dotted == "rope_theta" and not hasattr(obj, "rope_theta"):  # transformers 5: inside rope_parameters
        return (getattr(obj, "rope_parameters", None) or {}).get("rope_theta", "<missing>")
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def observe_model(repo_id: str, path: Path) -> dict:
    """Every recorded fact of repo_id as the stand-in at path shows it."""
    from transformers import AutoConfig, GenerationConfig

    path = Path(path)
    facts = records.MODEL_RECORDS[repo_id]
    names = set(facts)
    seen: dict = {}
    if any(n.startswith("tokenizer.") for n in names):
        seen.update(_tokenizer_facts(names, path))
        tok = seen.pop("_tok")
        if "tokenizer.special_tokens" in names:
            seen["tokenizer.special_tokens"] = {k: getattr(tok, k, None) for k in facts["tokenizer.special_tokens"].value}
        if "tokenizer.special_ids" in names:
            seen["tokenizer.special_ids"] = {t: tok.convert_tokens_to_ids(t) for t in facts["tokenizer.special_ids"].value}
    config = AutoConfig.from_pretrained(str(path))
    for name in names:
        if name.startswith("config."):
            try:
                seen[name] = _attr_path(config, name.removeprefix("config."))
            except AttributeError:
                seen[name] = "<missing>"
    if any(n.startswith("generation.") for n in names):
        gen = GenerationConfig.from_pretrained(str(path))
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(path))
        for name in names:
            if name.startswith("generation.") and name not in ("generation.eos_tokens", "generation.pad_token"):
                seen[name] = getattr(gen, name.removeprefix("generation."))
        eos = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
        seen["generation.eos_tokens"] = tok.convert_ids_to_tokens(eos)
        seen["generation.pad_token"] = tok.convert_ids_to_tokens(gen.pad_token_id)
    if (path / "modules.json").exists():
        modules = json.loads((path / "modules.json").read_text())
        seen["st.modules"] = [m["type"].rsplit(".", 1)[-1] for m in modules]
        from sentence_transformers import SentenceTransformer

        seen["st.max_seq_length"] = SentenceTransformer(str(path), device="cpu").max_seq_length
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        seen["st.pooling_mode"] = pooling.get("pooling_mode") or next(  # sentence-transformers 6 / older files
            (k.removeprefix("pooling_mode_").removesuffix("_tokens") for k, v in pooling.items()
             if k.startswith("pooling_mode_") and v), None)
    return seen


def compare(repo_id: str, seen: dict) -> list[str]:
    """Differences between the record of repo_id and what a stand-in shows (exact and scaled facts)."""
    problems = []
    for name, fact in records.MODEL_RECORDS[repo_id].items():
        if fact.kind == INFO:
            continue
        if name not in seen:
            problems.append(f"{repo_id} {name}: recorded {fact.value!r}, stand-in does not show it")
        elif fact.kind == EXACT and seen[name] != fact.value:
            problems.append(f"{repo_id} {name}: real {fact.value!r}, stand-in {seen[name]!r} ({fact.source})")
        elif fact.kind == SCALED and not (isinstance(seen[name], int) and 0 < seen[name] <= fact.value):
            problems.append(f"{repo_id} {name}: real {fact.value!r}, stand-in {seen[name]!r} is not a scaled-down size")
    return problems


def _linear_shapes(config) -> dict[str, tuple[int, int]]:
    import torch
    import transformers

    cls = getattr(transformers, config.architectures[0])
    with torch.device("meta"):
        model = cls(config)
    vocab = {getattr(c, "vocab_size", None) for c in (config, getattr(config, "text_config", None)) if c is not None}
    shapes = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module.out_features not in vocab:  # output heads stay unquantized
            shapes[re.sub(r"\.\d+(\.|$)", r".N\1", name)] = (module.in_features, module.out_features)
    return shapes


def real_config(repo_id: str, standin_config):
    """The stand-in's config with the recorded real sizes put back (to instantiate the real shapes on meta)."""
    from transformers import AutoConfig

    data = standin_config.to_dict()
    for derived in ("head_dim", "layer_types"):  # derived again from the real sizes
        data.pop(derived, None)
    for name, fact in records.MODEL_RECORDS[repo_id].items():
        if name.startswith("config.") and fact.kind in (EXACT, SCALED) and name != "config.architectures":
            *parents, leaf = name.removeprefix("config.").split(".")
            target = data
            for part in parents:
                target = target[part]
            target[leaf] = fact.value
    for sub in ("text_config", "vision_config"):
        if isinstance(data.get(sub), dict):
            data[sub].pop("head_dim", None)
    model_type = data.pop("model_type")
    return AutoConfig.for_model(model_type, **data)


def width_problems(repo_id: str, path: Path) -> list[str]:
    """Linear widths where the real model meets the quantization constraints and the stand-in does not."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path))
    standin, real = _linear_shapes(config), _linear_shapes(real_config(repo_id, config))
    problems = []
    for name, (s_in, s_out) in sorted(standin.items()):
        if name not in real:
            continue
        r_in, r_out = real[name]
        if r_in % QUANT_BLOCK == 0 and s_in % QUANT_BLOCK:
            problems.append(f"{repo_id} {name}: in_features {s_in} is not a multiple of {QUANT_BLOCK} (real {r_in})")
        if r_out % PACK_ROWS == 0 and s_out % PACK_ROWS:
            problems.append(f"{repo_id} {name}: out_features {s_out} is not a multiple of {PACK_ROWS} (real {r_out})")
    return problems


def model_differences(repo_id: str, path: Path) -> list[str]:
    return compare(repo_id, observe_model(repo_id, path)) + width_problems(repo_id, path)


# ---------------------------------------------------------------------------- datasets

def feature_signature(features) -> dict:
    """datasets Features -> the plain form used in records.py."""
    from datasets import ClassLabel, List, Sequence, Value

    def one(feature):
        if isinstance(feature, ClassLabel):
            return f"ClassLabel({','.join(feature.names)})"
        if isinstance(feature, Value):
            return feature.dtype
        if isinstance(feature, (Sequence, List)):
            return f"list<{one(feature.feature)}>"
        if isinstance(feature, dict):
            return {k: one(v) for k, v in feature.items()}
        return type(feature).__name__

    return {k: one(v) for k, v in features.items()}


def observe_dataset(repo_id: str, config: str) -> dict:
    import statistics

    from datasets import load_dataset

    ds = load_dataset(repo_id, config)
    first = next(iter(ds.values()))
    seen = {"features": feature_signature(first.features), "splits": {k: len(v) for k, v in ds.items()}}
    if "is_impossible" in first.features:
        train = ds["train"]
        seen["unanswerable_share"] = sum(train["is_impossible"]) / len(train)
        seen["context_chars"] = statistics.median(len(c) for c in set(train["context"]))
    return seen


def compare_dataset(repo_id: str, config: str, seen: dict) -> list[str]:
    problems = []
    for name, fact in records.DATASET_RECORDS[repo_id][config].items():
        value = seen.get(name, "<missing>")
        if name == "unanswerable_share":
            ok = isinstance(value, float) and abs(value - fact.value) <= 0.02
        elif name == "context_chars":
            ok = isinstance(value, (int, float)) and fact.value[0] <= value <= fact.value[1]
        else:
            ok = value == fact.value
        if not ok:
            problems.append(f"{repo_id}:{config} {name}: real {fact.value!r}, stand-in {value!r}")
    return problems


def dataset_differences(repo_id: str) -> list[str]:
    return [p for config in records.DATASET_RECORDS[repo_id]
            for p in compare_dataset(repo_id, config, observe_dataset(repo_id, config))]
