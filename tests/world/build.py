"""Build the offline smoke world: tiny stand-ins under the real Hub ids, in a private HF_HOME.

    python -m tests.world.build DIR      # fills DIR/hub (models) and DIR/datasets (prepared KLUE)

Models go into the hub-cache layout (``hub/models--org--name/{refs/main,snapshots/<commit>}``) and
load with ``HF_HUB_OFFLINE=1``. Datasets are prepared with ``datasets``' own builder from a Hub-style
folder and renamed to the cache name of the real id. Everything is seeded, and is rebuilt with the
installed library versions on every test session; nothing here is committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.world import records, standins

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS = REPO_ROOT / "assets"
SEED = 1234

# ----------------------------------------------------------------------------- corpus and tokenizers

FALLBACK_TEXT = [
    "대한민국은 민주공화국이다.",
    "허깅페이스 트랜스포머로 한국어 문장을 분류한다.",
    "The quick brown fox jumps over the lazy dog.",
    "a photo of a cat", "a photo of a dog", "SELECT name FROM users WHERE age > 30;",
    "import torch\nprint(torch.__version__)",
]


def corpus() -> list[str]:
    """Course-authored Korean text (assets) plus a few fixed lines; the same every run."""
    lines = list(FALLBACK_TEXT)
    for path in sorted((ASSETS / "klue_like").glob("*.jsonl")):
        for row in map(json.loads, path.read_text(encoding="utf-8").splitlines()):
            lines += [str(row[k]) for k in ("title", "sentence1", "sentence2", "context", "question") if k in row]
    return lines


def hangul_syllables() -> list[str]:
    return [chr(c) for c in range(0xAC00, 0xD7A4)]


def wordpiece_vocab(lines: list[str], specials: list[str]) -> dict[str, int]:
    """Specials, then frequent trained pieces, then every Hangul syllable and ASCII char (also as ##)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=3000, special_tokens=specials))
    pieces = [p for p, _ in sorted(tok.get_vocab().items(), key=lambda kv: kv[1])]
    chars = hangul_syllables() + [chr(c) for c in range(33, 127)] + list("·…‘’“”")
    pieces += chars + ["##" + c for c in chars]
    vocab: dict[str, int] = {}
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    return vocab


def bytelevel_bpe(lines: list[str], specials: list[str], vocab_size: int = 2000):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    return _vocab_and_merges(tok)


def _vocab_and_merges(tok) -> tuple[dict[str, int], list[tuple[str, str]]]:
    state = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["merges"]]
    return state["vocab"], merges


def clip_bpe(lines: list[str]):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<|startoftext|>", "<|endoftext|>"],
                                  end_of_word_suffix="</w>", initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    return _vocab_and_merges(tok)


def unigram_vocab(lines: list[str]) -> list[tuple[str, float]]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    tok.train_from_iterator(lines, trainers.UnigramTrainer(vocab_size=3000, special_tokens=specials,
                                                           unk_token="<unk>"))
    vocab = [tuple(piece) for piece in json.loads(tok.to_str())["model"]["vocab"]]
    known = {p for p, _ in vocab}
    vocab += [(c, -20.0) for c in hangul_syllables() if c not in known]  # no Korean text becomes <unk>
    return vocab + [("<mask>", 0.0)]


# A Qwen2.5-style ChatML template, written for the stand-in: the real default system prompt (records.py),
# tools listed in the system message, tool calls and tool responses in Qwen's tags.
QWEN_TOOLS_HEADER = ("\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
                     "You are provided with function signatures within <tools></tools> XML tags:\n<tools>")
QWEN_TOOLS_FOOTER = ("\n</tools>\n\nFor each function call, return a json object with function name and arguments "
                     "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
                     '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>')


def chatml_template(system_prompt: str) -> str:
    default = json.dumps(system_prompt)
    return "".join([
        "{%- if messages and messages[0]['role'] == 'system' %}{%- set system = messages[0]['content'] %}",
        "{%- else %}{%- set system = " + default + " %}{%- endif %}",
        "{{- '<|im_start|>system\\n' + system }}",
        "{%- if tools %}{{- " + json.dumps(QWEN_TOOLS_HEADER) + " }}",
        "{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}",
        "{{- " + json.dumps(QWEN_TOOLS_FOOTER) + " }}{%- endif %}",
        "{{- '<|im_end|>\\n' }}",
        "{%- for message in messages %}",
        "{%- if not (loop.first and message['role'] == 'system') %}",
        "{%- if message['role'] == 'tool' %}{{- '<|im_start|>user\\n<tool_response>\\n' }}",
        "{%- else %}{{- '<|im_start|>' + message['role'] + '\\n' }}{%- endif %}",
        "{%- if message['content'] is string %}{{- message['content'] }}",
        "{%- elif message['content'] %}{%- for part in message['content'] %}{%- if part['type'] == 'text' %}",
        "{{- part['text'] }}{%- endif %}{%- endfor %}{%- endif %}",
        "{%- if message['tool_calls'] %}{%- for call in message['tool_calls'] %}",
        "{%- set fn = call['function'] if call['function'] is defined else call %}",
        "{{- '\\n<tool_call>\\n{\"name\": \"' + fn['name'] + '\", \"arguments\": ' }}",
        "{%- if fn['arguments'] is string %}{{- fn['arguments'] }}{%- else %}{{- fn['arguments'] | tojson }}",
        "{%- endif %}{{- '}\\n</tool_call>' }}{%- endfor %}{%- endif %}",
        "{%- if message['role'] == 'tool' %}{{- '\\n</tool_response>' }}{%- endif %}",
        "{{- '<|im_end|>\\n' }}",
        "{%- endif %}",
        "{%- endfor %}",
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
    ])


class Tokenizers:
    """Trains each tokenizer family once per build (all stand-ins of a family share it)."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self._cache: dict[str, object] = {}

    def get(self, family: str):
        if family not in self._cache:
            self._cache[family] = getattr(self, "_" + family.replace("-", "_"))()
        return self._cache[family]

    def _wordpiece_ko(self):
        # The order of the KLUE vocab: [CLS]=0, [PAD]=1, [SEP]=2, [UNK]=3, [MASK]=4.
        return wordpiece_vocab(self.lines, ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"])

    def korean_wordpiece(self, repo_id: str, **kwargs):
        """A fresh KLUE-style BertTokenizer as the record of repo_id describes it: cased (lower-casing would strip
        Hangul to [UNK]) and with the class default model_input_names, so it RETURNS token_type_ids."""
        from transformers import BertTokenizer

        return BertTokenizer(vocab=dict(self.get("wordpiece-ko")),
                             do_lower_case=records.fact(repo_id, "tokenizer.do_lower_case"),
                             model_max_length=records.fact(repo_id, "tokenizer.model_max_length"), **kwargs)

    def _bytebpe(self):
        from transformers import GPT2Tokenizer

        vocab, merges = bytelevel_bpe(self.lines, ["<|endoftext|>"])
        return GPT2Tokenizer(vocab=vocab, merges=merges,
                             model_max_length=records.fact("openai-community/gpt2", "tokenizer.model_max_length"))

    def _chatml(self):
        from transformers import Qwen2Tokenizer

        repo = standins.CHAT_STANDIN
        added = records.fact(repo, "tokenizer.added_tokens")  # the real added tokens, in the real order
        vocab, merges = bytelevel_bpe(self.lines, added[:3])
        specials = records.fact(repo, "tokenizer.special_tokens")
        tok = Qwen2Tokenizer(vocab=vocab, merges=merges, **specials,
                             model_max_length=records.fact(repo, "tokenizer.model_max_length"))
        for token in added[1:]:  # in the real order; <tool_call> and </tool_call> are added but not special
            if "tool_call" in token:
                tok.add_tokens([token])
            else:
                tok.add_special_tokens({"additional_special_tokens": [token]},
                                       replace_extra_special_tokens=False)
        tok.chat_template = chatml_template(records.fact(repo, "tokenizer.default_system_prompt"))
        return tok

    def _neox(self):
        from transformers import GPTNeoXTokenizer

        vocab, merges = bytelevel_bpe(self.lines, ["<|endoftext|>", "<|padding|>"])
        return GPTNeoXTokenizer(vocab=vocab, merges=merges, pad_token="<|padding|>")

    def _unigram(self):
        from transformers import XLMRobertaTokenizer

        return XLMRobertaTokenizer(vocab=unigram_vocab(self.lines), model_max_length=records.fact(
            "BAAI/bge-reranker-v2-m3", "tokenizer.model_max_length"))

    def _clip(self):
        from transformers import CLIPTokenizer

        vocab, merges = clip_bpe(self.lines)
        return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=records.fact(
            "openai/clip-vit-base-patch32", "tokenizer.model_max_length"))


# ----------------------------------------------------------------------------- model builders

# Scaled sizes. Every width is a multiple of 64 (bitsandbytes' 4-bit block; its AVX512-BF16 CPU path reshapes
# absmax to (out, in // 64) and packs 32 output rows at a time), head counts and the GQA ratio are the real ones
# (records.py), and only hidden sizes, vocabularies and layer counts shrink. tests/test_standin_records.py checks it.
TINY_ENCODER = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
TINY_HEAD_DIM = 32  # decoders: real head counts x 32 (Qwen2.5-0.5B: 14 x 32 = 448 wide, 2 kv heads x 32 = 64)


def _seed():
    import torch

    torch.manual_seed(SEED)


def _exact(repo_id: str, prefix: str = "config.") -> dict:
    """The record's exact config facts of repo_id (what the stand-in copies unchanged)."""
    skip = {"config.architectures", "config.model_type", "generation.eos_tokens", "generation.pad_token"}
    return {name.removeprefix(prefix): f.value for name, f in records.MODEL_RECORDS[repo_id].items()
            if name.startswith(prefix) and "." not in name.removeprefix(prefix) and f.kind == records.EXACT
            and name not in skip}


def build_bert(out: Path, toks: Tokenizers, overrides: dict, repo_id: str):
    from transformers import BertConfig, BertForMaskedLM

    tok = toks.korean_wordpiece(repo_id)
    cfg = BertConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id, **_exact(repo_id),
                     **{**TINY_ENCODER, **overrides})
    _seed()
    BertForMaskedLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)


def build_roberta(out: Path, toks: Tokenizers, overrides: dict, repo_id: str, model_cls: str = "RobertaForMaskedLM"):
    import transformers
    from transformers import RobertaConfig

    # The real KLUE RoBERTa: a BertTokenizer that returns token_type_ids (pairs: second segment type 1) in front
    # of a model with type_vocab_size 1. Pair code must drop the type ids, exactly as with the real artefact.
    tok = toks.korean_wordpiece(repo_id)
    cfg = RobertaConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id,
                        eos_token_id=tok.sep_token_id, **_exact(repo_id), **{**TINY_ENCODER, **overrides})
    _seed()
    getattr(transformers, model_cls)(cfg).save_pretrained(out)
    tok.save_pretrained(out)


def build_gpt2(out: Path, toks: Tokenizers, overrides: dict, repo_id: str):
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = toks.get("bytebpe")
    cfg = GPT2Config(vocab_size=len(tok), n_embd=64, n_layer=2, n_head=2, bos_token_id=tok.eos_token_id,
                     eos_token_id=tok.eos_token_id, **_exact(repo_id), **overrides)
    _seed()
    GPT2LMHeadModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)


def build_qwen2_chat(out: Path, toks: Tokenizers, overrides: dict, repo_id: str):
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tok = toks.get("chatml")
    heads = records.fact(repo_id, "config.num_attention_heads")
    sizes = dict(hidden_size=heads * TINY_HEAD_DIM, intermediate_size=512, num_hidden_layers=2)
    cfg = Qwen2Config(vocab_size=len(tok), bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
                      eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tok.pad_token_id,
                      **_exact(repo_id), **{**sizes, **overrides})
    _seed()
    model = Qwen2ForCausalLM(cfg)
    gen = _exact(repo_id, "generation.")  # the real sampling defaults and repetition penalty
    eos = tok.convert_tokens_to_ids(records.fact(repo_id, "generation.eos_tokens"))
    pad = tok.convert_tokens_to_ids(records.fact(repo_id, "generation.pad_token"))
    model.generation_config = GenerationConfig(bos_token_id=pad, eos_token_id=eos, pad_token_id=pad, **gen)
    model.save_pretrained(out)
    tok.save_pretrained(out)


def build_sentence_transformer(out: Path, toks: Tokenizers, overrides: dict, repo_id: str):
    from sentence_transformers import SentenceTransformer, models

    with tempfile.TemporaryDirectory() as base:
        build_roberta(Path(base), toks, overrides, repo_id, model_cls="RobertaModel")
        encoder = models.Transformer(base, max_seq_length=records.fact(repo_id, "st.max_seq_length"))
        pooling = models.Pooling(encoder.get_embedding_dimension(),
                                 pooling_mode=records.fact(repo_id, "st.pooling_mode"))
        SentenceTransformer(modules=[encoder, pooling], device="cpu").save(str(out))


def build_cross_encoder(out: Path, toks: Tokenizers, overrides: dict, repo_id: str):
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    tok = toks.get("unigram")
    cfg = XLMRobertaConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                           eos_token_id=tok.eos_token_id, id2label={0: "LABEL_0"}, **_exact(repo_id),
                           **{**TINY_ENCODER, **overrides})
    _seed()
    XLMRobertaForSequenceClassification(cfg).save_pretrained(out)
    tok.save_pretrained(out)


def build_clip(out: Path, toks: Tokenizers, overrides: dict, repo_id: str):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tok = toks.get("clip")
    fact = lambda name: records.fact(repo_id, name)
    text = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=fact("config.text_config.max_position_embeddings"),
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    vision = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                  image_size=fact("config.vision_config.image_size"), patch_size=fact("config.vision_config.patch_size"))
    cfg = CLIPConfig(text_config=text, vision_config=vision, projection_dim=64, **overrides)
    _seed()
    CLIPModel(cfg).save_pretrained(out)
    size = fact("config.vision_config.image_size")
    image_processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    CLIPProcessor(image_processor=image_processor, tokenizer=tok).save_pretrained(out)


def build_mamba(out: Path, toks: Tokenizers, overrides: dict, repo_id: str):
    from transformers import MambaConfig, MambaForCausalLM

    tok = toks.get("neox")
    cfg = MambaConfig(**{**dict(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, bos_token_id=0,
                                eos_token_id=0, pad_token_id=tok.pad_token_id, **_exact(repo_id)), **overrides})
    _seed()
    MambaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)


MODEL_KINDS = {
    "bert": build_bert,
    "roberta": build_roberta,
    "gpt2": build_gpt2,
    "qwen2-chat": build_qwen2_chat,
    "sentence-transformer": build_sentence_transformer,
    "cross-encoder": build_cross_encoder,
    "clip": build_clip,
    "mamba": build_mamba,
}


def commit_hash(repo_id: str) -> str:
    return hashlib.sha1(f"smoke-world:{repo_id}".encode()).hexdigest()


def install_model(hf_home: Path, repo_id: str, build_fn) -> Path:
    """Write a snapshot in the hub-cache layout so that from_pretrained(repo_id) works offline."""
    repo_dir = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    commit = commit_hash(repo_id)
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    build_fn(snapshot)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


# ----------------------------------------------------------------------------- datasets

def _rows(name: str) -> list[dict]:
    path = ASSETS / "klue_like" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


YNAT_LABELS = records.YNAT_LABELS

# Real-sized splits (records.py) generated, seeded, from the course-authored rows in assets/klue_like: every
# generated row is a light variant of an authored one, so labels, scores and answer spans stay true, and a
# notebook whose quick mode processes "all rows" meets the real row counts here too.
YNAT_PREFIXES = ["", "", "[속보] ", "[종합] ", "[단독] ", "[이슈] ", "[현장] ", "[인터뷰] ", "[그래픽] ", "[표] "]
YNAT_SUFFIXES = ["", "", "(종합)", "(종합2보)", "…전문가 \"주목\"", "…업계 촉각", "…이번 주 발표", "(상보)",
                 "…관심 집중", "…후속 대책"]
STS_OPENERS = ["", "", "", "정말 ", "사실 ", "이번에도 ", "솔직히 ", "그리고 ", "확실히 ", "아무래도 "]
UNANSWERABLE_TYPE = 3  # unsourced: KLUE MRC question_type 3 marks unanswerable questions


def _sizes(config: str) -> dict[str, int]:
    return records.DATASET_RECORDS["klue/klue"][config]["splits"].value


def _vary_numbers(text: str, rng) -> str:
    import re

    return re.sub(r"\d+", lambda m: str(max(1, int(m.group()) + rng.randint(-3, 9))), text)


def klue_ynat():
    import random

    from datasets import ClassLabel, Features, Value

    features = Features({"guid": Value("string"), "title": Value("string"),
                         "label": ClassLabel(names=YNAT_LABELS), "url": Value("string"), "date": Value("string")})
    rng = random.Random(SEED)
    rows = []
    for split, size in _sizes("ynat").items():
        source = [r for r in _rows("ynat") if r["split"] == split]
        for i in range(size):
            base = source[i % len(source)]
            title = base["title"] if i < len(source) else (
                rng.choice(YNAT_PREFIXES) + _vary_numbers(base["title"], rng) + rng.choice(YNAT_SUFFIXES)).strip()
            guid = f"ynat-v1_{split}_{i + 1:05d}"
            rows.append(dict(guid=guid, title=title, label=YNAT_LABELS.index(base["label"]),
                             url=f"https://example.invalid/news/{guid}",
                             date=f"2026.{rng.randint(1, 12):02d}.{rng.randint(1, 28):02d}. 오전 9:00", split=split))
    return features, rows


def klue_sts():
    import random

    from datasets import ClassLabel, Features, Value

    features = Features({"guid": Value("string"), "source": Value("string"), "sentence1": Value("string"),
                         "sentence2": Value("string"),
                         "labels": {"label": Value("float64"), "real-label": Value("float64"),
                                    "binary-label": ClassLabel(names=["negative", "positive"])}})
    rng = random.Random(SEED + 1)
    rows = []
    for split, size in _sizes("sts").items():
        source = [r for r in _rows("sts") if r["split"] == split]
        for i in range(size):
            base = source[i % len(source)]
            one, two = base["sentence1"], base["sentence2"]
            if i >= len(source):  # the same meaning, a different opener: the score stays true
                one, two = rng.choice(STS_OPENERS) + one, rng.choice(STS_OPENERS) + two
            rows.append({**base, "guid": f"klue-sts-v1_{split}_{i + 1:05d}", "sentence1": one, "sentence2": two})
    return features, rows


def _mrc_contexts(paragraphs: list[dict], rng):
    """Endless distinct contexts, each 3-5 authored paragraphs joined (real contexts: 500-1,500 characters)."""
    seen = set()
    while True:
        picked = rng.sample(paragraphs, k=min(len(paragraphs), rng.randint(3, 5)))
        key = tuple(p["context"] for p in picked)
        if key not in seen:
            seen.add(key)
            yield picked


def klue_mrc():
    import random

    from datasets import Features, Sequence, Value

    features = Features({"title": Value("string"), "context": Value("string"), "news_category": Value("string"),
                         "source": Value("string"), "guid": Value("string"), "is_impossible": Value("bool"),
                         "question_type": Value("int32"), "question": Value("string"),
                         "answers": {"answer_start": Sequence(Value("int32")), "text": Sequence(Value("string"))}})
    share = records.DATASET_RECORDS["klue/klue"]["mrc"]["unanswerable_share"].value
    rng = random.Random(SEED + 2)
    rows = []
    for split, size in _sizes("mrc").items():
        source = [r for r in _rows("mrc") if r["split"] == split]
        by_context: dict[str, list[dict]] = {}
        for r in source:
            by_context.setdefault(r["context"], []).append(r)
        paragraphs = [qs[0] for qs in by_context.values()]
        n_questions = 0
        for picked in _mrc_contexts(paragraphs, rng):
            if n_questions == size:
                break
            offsets, text = {}, ""
            for p in picked:
                offsets[p["context"]] = len(text) + (1 if text else 0)
                text = p["context"] if not text else text + " " + p["context"]
            inside = [q for p in picked for q in by_context[p["context"]]]
            outside = [q for q in source if q["context"] not in offsets]
            for _ in range(rng.choice([1, 2])):
                if n_questions == size:
                    break
                n_questions += 1
                impossible = rng.random() < share and bool(outside)
                q = rng.choice(outside if impossible else inside)
                answers = {"answer_start": [], "text": []} if impossible else {
                    "answer_start": [s + offsets[q["context"]] for s in q["answers"]["answer_start"]],
                    "text": list(q["answers"]["text"])}
                rows.append(dict(title=picked[0]["title"], context=text, news_category=picked[0]["news_category"],
                                 source=picked[0]["source"], guid=f"klue-mrc-v1_{split}_{n_questions:05d}",
                                 is_impossible=impossible,
                                 question_type=UNANSWERABLE_TYPE if impossible else q["question_type"],
                                 question=q["question"], answers=answers, split=split))
    return features, rows


DATASET_BUILDERS = {"klue_ynat": klue_ynat, "klue_sts": klue_sts, "klue_mrc": klue_mrc}


def install_dataset(hf_home: Path, repo_id: str, configs: dict[str, str]) -> None:
    """Prepare each config with datasets' builder from a Hub-style folder, under the real id's cache name."""
    import datasets
    from datasets import Dataset

    cache_dir = hf_home / "datasets"
    org, name = repo_id.split("/")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / name
        yaml = ["---", "configs:"]
        for config, builder in configs.items():
            features, rows = DATASET_BUILDERS[builder]()
            yaml += [f"- config_name: {config}", "  data_files:"]
            (src / config).mkdir(parents=True)
            for split in ("train", "validation"):
                part = [{k: v for k, v in r.items() if k in features} for r in rows if r["split"] == split]
                Dataset.from_list(part, features=features).to_parquet(src / config / f"{split}.parquet")
                yaml += [f"  - split: {split}", f"    path: {config}/{split}.parquet"]
        (src / "README.md").write_text("\n".join(yaml + ["---", f"Smoke-world stand-in of {repo_id}."]) + "\n")
        for config in configs:
            datasets.load_dataset(str(src), config, cache_dir=str(cache_dir))
    # A local folder is cached under its folder name; the Hub id is cached as "<org>___<name>".
    target = cache_dir / f"{org}___{name}"
    shutil.rmtree(target, ignore_errors=True)
    (cache_dir / name).rename(target)


# ----------------------------------------------------------------------------- entry point

def build_world(hf_home: Path, log=print) -> dict[str, float]:
    """Build every stand-in of the manifest into hf_home. Returns seconds per entry."""
    from tests.world import standins

    hf_home = Path(hf_home)
    hf_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    timings: dict[str, float] = {}
    toks = Tokenizers(corpus())
    for entry in standins.MODELS:
        if not entry.build:
            continue
        start = time.perf_counter()
        builder = MODEL_KINDS[entry.kind]
        install_model(hf_home, entry.repo_id,
                      lambda out, e=entry, b=builder: b(out, toks, dict(e.config), e.repo_id))
        timings[entry.repo_id] = time.perf_counter() - start
    chat = standins.model(standins.CHAT_STANDIN)
    for name in standins.OPENAI_CHAT_MODELS:  # the local server loads whatever name a request gives
        install_model(hf_home, name, lambda out: MODEL_KINDS[chat.kind](out, toks, dict(chat.config), chat.repo_id))
    for dataset in standins.DATASETS:
        start = time.perf_counter()
        install_dataset(hf_home, dataset.repo_id, dataset.configs)
        timings[dataset.repo_id] = time.perf_counter() - start
    for repo_id, seconds in timings.items():
        log(f"  built {repo_id:45s} {seconds:5.1f}s")
    return timings


def fingerprint() -> str:
    """Changes when the builder, the manifest, the course data or a library version changes."""
    import datasets
    import sentence_transformers
    import tokenizers
    import transformers

    digest = hashlib.sha256()
    here = Path(__file__)
    for path in [here, here.with_name("standins.py"), here.with_name("records.py"),
                 *sorted((ASSETS / "klue_like").glob("*"))]:
        digest.update(path.read_bytes())
    for module in (transformers, tokenizers, datasets, sentence_transformers):
        digest.update(module.__version__.encode())
    return digest.hexdigest()[:16]


def ensure_world(hf_home: Path, log=print) -> None:
    """Build the world unless hf_home already holds one with the same fingerprint (COURSE_WORLD_DIR reuse)."""
    import fcntl

    Path(hf_home).mkdir(parents=True, exist_ok=True)
    stamp = Path(hf_home) / "world.fingerprint"
    wanted = fingerprint()
    with open(Path(hf_home) / "world.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several test runs may share one COURSE_WORLD_DIR
        if stamp.exists() and stamp.read_text() == wanted:
            log(f"smoke world {wanted} reused")
            return
        stamp.unlink(missing_ok=True)
        for sub in ("hub", "datasets"):
            shutil.rmtree(Path(hf_home) / sub, ignore_errors=True)
        build_world(hf_home, log=log)
        stamp.write_text(wanted)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/world")
    os.environ["HF_HOME"] = str(target.resolve())
    ensure_world(target)
