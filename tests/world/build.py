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


# A Qwen2.5-style ChatML template (system default, tools omitted), written for the stand-in.
CHATML_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (loop.first and message['role'] == 'system') %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for part in message['content'] %}{%- if part['type'] == 'text' %}{{- part['text'] }}"
    "{%- endif %}{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


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

    def korean_wordpiece(self, **kwargs):
        """A fresh KLUE-style BertTokenizer (cased: lower-casing would strip Hangul to [UNK])."""
        from transformers import BertTokenizer

        return BertTokenizer(vocab=dict(self.get("wordpiece-ko")), do_lower_case=False, model_max_length=512,
                             **kwargs)

    def _bytebpe(self):
        from transformers import GPT2Tokenizer

        vocab, merges = bytelevel_bpe(self.lines, ["<|endoftext|>"])
        return GPT2Tokenizer(vocab=vocab, merges=merges, model_max_length=1024)

    def _chatml(self):
        from transformers import Qwen2Tokenizer

        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        vocab, merges = bytelevel_bpe(self.lines, specials)
        tok = Qwen2Tokenizer(vocab=vocab, merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                             model_max_length=32768)
        tok.add_special_tokens({"additional_special_tokens": specials[1:]})
        tok.chat_template = CHATML_TEMPLATE
        return tok

    def _neox(self):
        from transformers import GPTNeoXTokenizer

        vocab, merges = bytelevel_bpe(self.lines, ["<|endoftext|>", "<|padding|>"])
        return GPTNeoXTokenizer(vocab=vocab, merges=merges, pad_token="<|padding|>")

    def _unigram(self):
        from transformers import XLMRobertaTokenizer

        return XLMRobertaTokenizer(vocab=unigram_vocab(self.lines), model_max_length=8192)

    def _clip(self):
        from transformers import CLIPTokenizer

        vocab, merges = clip_bpe(self.lines)
        return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


# ----------------------------------------------------------------------------- model builders

TINY_ENCODER = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)


def _seed():
    import torch

    torch.manual_seed(SEED)


def build_bert(out: Path, toks: Tokenizers, overrides: dict):
    from transformers import BertConfig, BertForMaskedLM

    tok = toks.korean_wordpiece()
    cfg = BertConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id, max_position_embeddings=512,
                     **{**TINY_ENCODER, **overrides})
    _seed()
    BertForMaskedLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)


def build_roberta(out: Path, toks: Tokenizers, overrides: dict):
    from transformers import RobertaConfig, RobertaForMaskedLM

    # KLUE RoBERTa ships a BertTokenizer that returns no token_type_ids (type_vocab_size is 1).
    tok = toks.korean_wordpiece(model_input_names=["input_ids", "attention_mask"])
    cfg = RobertaConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id,
                        eos_token_id=tok.sep_token_id, max_position_embeddings=514, type_vocab_size=1,
                        **{**TINY_ENCODER, **overrides})
    _seed()
    RobertaForMaskedLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)


def build_gpt2(out: Path, toks: Tokenizers, overrides: dict):
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = toks.get("bytebpe")
    cfg = GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=64, n_layer=2, n_head=2,
                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, **overrides)
    _seed()
    GPT2LMHeadModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)


def build_qwen2_chat(out: Path, toks: Tokenizers, overrides: dict):
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tok = toks.get("chatml")
    im_end, eot = tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    cfg = Qwen2Config(**{**dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768,
                                tie_word_embeddings=True, bos_token_id=eot, eos_token_id=im_end,
                                pad_token_id=eot), **overrides})
    _seed()
    model = Qwen2ForCausalLM(cfg)
    model.generation_config = GenerationConfig(bos_token_id=eot, eos_token_id=[im_end, eot], pad_token_id=eot,
                                               do_sample=True, temperature=0.7, top_p=0.8, top_k=20,
                                               repetition_penalty=1.05)
    model.save_pretrained(out)
    tok.save_pretrained(out)


def build_sentence_transformer(out: Path, toks: Tokenizers, overrides: dict):
    from sentence_transformers import SentenceTransformer, models

    with tempfile.TemporaryDirectory() as base:
        build_roberta(Path(base), toks, overrides)
        encoder = models.Transformer(base, max_seq_length=128)
        pooling = models.Pooling(encoder.get_embedding_dimension(), pooling_mode="mean")
        SentenceTransformer(modules=[encoder, pooling], device="cpu").save(str(out))


def build_cross_encoder(out: Path, toks: Tokenizers, overrides: dict):
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    tok = toks.get("unigram")
    cfg = XLMRobertaConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                           eos_token_id=tok.eos_token_id, max_position_embeddings=8194, type_vocab_size=1,
                           num_labels=1, id2label={0: "LABEL_0"}, **{**TINY_ENCODER, **overrides})
    _seed()
    XLMRobertaForSequenceClassification(cfg).save_pretrained(out)
    tok.save_pretrained(out)


def build_clip(out: Path, toks: Tokenizers, overrides: dict):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tok = toks.get("clip")
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=77, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  image_size=224, patch_size=32)
    cfg = CLIPConfig(text_config=text, vision_config=vision, projection_dim=32, **overrides)
    _seed()
    CLIPModel(cfg).save_pretrained(out)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    CLIPProcessor(image_processor=image_processor, tokenizer=tok).save_pretrained(out)


def build_mamba(out: Path, toks: Tokenizers, overrides: dict):
    from transformers import MambaConfig, MambaForCausalLM

    tok = toks.get("neox")
    cfg = MambaConfig(**{**dict(vocab_size=len(tok), hidden_size=32, state_size=8, num_hidden_layers=2,
                                expand=2, conv_kernel=4, bos_token_id=0, eos_token_id=0,
                                pad_token_id=tok.pad_token_id), **overrides})
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


YNAT_LABELS = ["IT과학", "경제", "사회", "생활문화", "세계", "스포츠", "정치"]


def klue_ynat():
    from datasets import ClassLabel, Features, Value

    features = Features({"guid": Value("string"), "title": Value("string"),
                         "label": ClassLabel(names=YNAT_LABELS), "url": Value("string"), "date": Value("string")})
    rows = [dict(guid=r["guid"], title=r["title"], label=YNAT_LABELS.index(r["label"]),
                 url=f"https://example.invalid/news/{r['guid']}", date="2026.11.01. 오전 9:00", split=r["split"])
            for r in _rows("ynat")]
    return features, rows


def klue_sts():
    from datasets import ClassLabel, Features, Value

    features = Features({"guid": Value("string"), "source": Value("string"), "sentence1": Value("string"),
                         "sentence2": Value("string"),
                         "labels": {"label": Value("float64"), "real-label": Value("float64"),
                                    "binary-label": ClassLabel(names=["negative", "positive"])}})
    return features, _rows("sts")


def klue_mrc():
    from datasets import Features, Sequence, Value

    features = Features({"title": Value("string"), "context": Value("string"), "news_category": Value("string"),
                         "source": Value("string"), "guid": Value("string"), "is_impossible": Value("bool"),
                         "question_type": Value("int32"), "question": Value("string"),
                         "answers": {"answer_start": Sequence(Value("int32")), "text": Sequence(Value("string"))}})
    return features, _rows("mrc")


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
        install_model(hf_home, entry.repo_id, lambda out, e=entry, b=builder: b(out, toks, dict(e.config)))
        timings[entry.repo_id] = time.perf_counter() - start
    chat = standins.model(standins.CHAT_STANDIN)
    for name in standins.OPENAI_CHAT_MODELS:  # the local server loads whatever name a request gives
        install_model(hf_home, name, lambda out: MODEL_KINDS[chat.kind](out, toks, dict(chat.config)))
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
    for path in [Path(__file__), Path(__file__).with_name("standins.py"), *sorted((ASSETS / "klue_like").glob("*"))]:
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
