"""What the REAL artefacts behind the manifest (``standins.py``) look like, fact by fact, with sources.

The smoke world is a model of the learner's world. Every interface fact a notebook relies on is written
here once, with where it comes from; the builders in ``build.py`` read the exact facts from this file
(the stand-in reproduces them) and scale only the sizes, and ``tests/test_standin_records.py`` checks every
built stand-in against its record and fails on any difference.

A fact is one of
- ``exact``: the stand-in must show the same value (tokenizer outputs, special tokens, model_max_length,
  chat template, generation defaults, type_vocab_size, head counts, max positions, dataset features, split sizes);
- ``scaled``: a size the stand-in shrinks (hidden size, vocabulary, layers). The stand-in must stay below the
  real value and keep the constraints real code meets: every Linear width that is a multiple of the
  64-value quantization block (and of bitsandbytes' 32-row CPU packing) in the real model is one in the
  stand-in too, and the GQA ratio (heads / kv heads) is the real one;
- ``info``: recorded for the reader (parameter count, download size); not checked.

Sources: where a value could not be checked against a published file from this offline machine, its source
starts with ``unsourced:`` and says what the stand-in assumes. ``unsourced_facts()`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXACT, SCALED, INFO = "exact", "scaled", "info"


@dataclass(frozen=True)
class Fact:
    value: Any
    source: str
    kind: str = EXACT


# Sources used more than once
ISSUE12 = "course issue 12 (checked against the published configs and the installed libraries' source)"
PITFALLS = "shared/notes/pitfalls.md 'Found in this course's own first version'"
NOTES = "shared/notes/offline_world.md"
BERT_SRC = "transformers 5.23 models/bert/tokenization_bert.py: model_input_names (type ids on), pairs type 0 + 1"
XLMR_SRC = "transformers 5.23 models/xlm_roberta/tokenization_xlm_roberta.py: model_input_names"
QWEN_TOK_SRC = "transformers 5.23 models/qwen2/tokenization_qwen2.py: model_input_names"
GPT2_TOK_SRC = "transformers 5.23 models/gpt2/tokenization_gpt2.py: model_input_names"
QWEN_CARD = ("Qwen2.5-0.5B-Instruct model card (copy in github Abandon-ht/LLM-tutorial "
             "docs/source/model_pages/qwen2.5-0.5b-instruct.rst): 0.49B params, 24 layers, GQA 14 Q / 2 KV, 32,768 ctx")
QWEN_CFG = ("Qwen/Qwen2.5-0.5B config.json (copy found by code search: hidden 896, intermediate 4864, 14/2 heads, "
            "max_position_embeddings 32768, tie_word_embeddings true, vocab 151936)")

KLUE_SPECIALS = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
                 "mask_token": "[MASK]"}
KLUE_SPECIAL_IDS = {"[CLS]": 0, "[PAD]": 1, "[SEP]": 2, "[UNK]": 3, "[MASK]": 4}
QWEN_ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
              "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
              "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
              "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def _klue_tokenizer(model_max_length: int = 512) -> dict[str, Fact]:
    return {
        "tokenizer.class": Fact("BertTokenizer", ISSUE12 + ": the KLUE repos ship a BertTokenizer"),
        "tokenizer.single_keys": Fact(["attention_mask", "input_ids", "token_type_ids"],
                                      f"{ISSUE12}: no model_input_names override; {BERT_SRC}"),
        "tokenizer.pair_second_type_id": Fact(1, f"{PITFALLS}; {BERT_SRC}"),
        "tokenizer.special_tokens": Fact(KLUE_SPECIALS, "unsourced: KLUE tokenizer_config / special_tokens_map "
                                         "as the stand-in assumes ([CLS] [SEP] [PAD] [UNK] [MASK])"),
        "tokenizer.special_ids": Fact(KLUE_SPECIAL_IDS, "unsourced: KLUE vocab.txt order [CLS]=0 [PAD]=1 [SEP]=2 "
                                      "[UNK]=3 [MASK]=4 (agrees with roberta config bos 0 / pad 1 / eos 2)"),
        "tokenizer.do_lower_case": Fact(False, f"unsourced: cased KLUE WordPiece ({NOTES}: lower-casing strips "
                                        "Hangul to [UNK] in transformers 5)"),
        "tokenizer.model_max_length": Fact(model_max_length, "unsourced: tokenizer_config model_max_length 512"),
        "tokenizer.chat_template": Fact(False, "encoder: no chat template"),
    }


def _no_chat() -> dict[str, Fact]:
    return {"tokenizer.chat_template": Fact(False, "not a chat model: no chat template")}


MODEL_RECORDS: dict[str, dict[str, Fact]] = {
    # ------------------------------------------------------------------ Korean encoders
    "klue/bert-base": {
        **_klue_tokenizer(),
        "config.architectures": Fact(["BertForMaskedLM"], "unsourced: klue/bert-base config.json architectures"),
        "config.model_type": Fact("bert", "unsourced: klue/bert-base config.json"),
        "config.type_vocab_size": Fact(2, "unsourced: BERT segment embeddings (klue/bert-base config 2)"),
        "config.max_position_embeddings": Fact(512, "unsourced: klue/bert-base config.json"),
        "config.hidden_size": Fact(768, "unsourced: klue/bert-base config.json (BERT-base)", SCALED),
        "config.num_hidden_layers": Fact(12, "unsourced: klue/bert-base config.json", SCALED),
        "config.vocab_size": Fact(32000, "unsourced: klue/bert-base config.json", SCALED),
        "params": Fact(110_600_000, "unsourced: BERT-base with a 32k vocabulary", INFO),
        "download_bytes": Fact(445_000_000, "unsourced: pytorch_model.bin size", INFO),
    },
    "klue/roberta-base": {
        **_klue_tokenizer(),
        "config.architectures": Fact(["RobertaForMaskedLM"], "unsourced: klue/roberta-base config.json"),
        "config.model_type": Fact("roberta", "unsourced: klue/roberta-base config.json"),
        "config.type_vocab_size": Fact(1, ISSUE12 + ": the model has type_vocab_size 1"),
        "config.max_position_embeddings": Fact(514, "unsourced: RoBERTa 512 + 2 offset positions"),
        "config.hidden_size": Fact(768, "unsourced: klue/roberta-base config.json", SCALED),
        "config.num_hidden_layers": Fact(12, "unsourced: klue/roberta-base config.json", SCALED),
        "config.vocab_size": Fact(32000, "unsourced: klue/roberta-base config.json", SCALED),
        "params": Fact(110_600_000, "unsourced: KLUE paper, RoBERTa-base 111M", INFO),
        "download_bytes": Fact(443_000_000, "unsourced: pytorch_model.bin size", INFO),
    },
    "klue/roberta-small": {
        **_klue_tokenizer(),
        "config.architectures": Fact(["RobertaForMaskedLM"], "unsourced: klue/roberta-small config.json"),
        "config.model_type": Fact("roberta", "unsourced: klue/roberta-small config.json"),
        "config.type_vocab_size": Fact(1, ISSUE12),
        "config.max_position_embeddings": Fact(514, "unsourced: RoBERTa 512 + 2 offset positions"),
        "config.hidden_size": Fact(768, "unsourced: KLUE paper RoBERTa-small 68M = 6 layers x 768", SCALED),
        "config.num_hidden_layers": Fact(6, "unsourced: KLUE paper RoBERTa-small", SCALED),
        "config.vocab_size": Fact(32000, "unsourced: klue/roberta-small config.json", SCALED),
        "params": Fact(68_000_000, "unsourced: KLUE paper, RoBERTa-small 68M", INFO),
        "download_bytes": Fact(273_000_000, "unsourced: pytorch_model.bin size", INFO),
    },
    # ------------------------------------------------------------------ decoders
    "openai-community/gpt2": {
        "tokenizer.class": Fact("GPT2Tokenizer", "unsourced: gpt2 repo tokenizer files (vocab.json + merges.txt)"),
        "tokenizer.single_keys": Fact(["attention_mask", "input_ids"], GPT2_TOK_SRC),
        "tokenizer.special_tokens": Fact({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                          "unk_token": "<|endoftext|>"},
                                         "unsourced: GPT-2 has one special token and no pad token"),
        "tokenizer.model_max_length": Fact(1024, "unsourced: gpt2 tokenizer model_max_length 1024"),
        **_no_chat(),
        "config.architectures": Fact(["GPT2LMHeadModel"], "unsourced: gpt2 config.json"),
        "config.model_type": Fact("gpt2", "unsourced: gpt2 config.json"),
        "config.n_positions": Fact(1024, "unsourced: gpt2 config.json"),
        "config.n_embd": Fact(768, "unsourced: gpt2 config.json", SCALED),
        "config.n_layer": Fact(12, "unsourced: gpt2 config.json", SCALED),
        "config.vocab_size": Fact(50257, "unsourced: gpt2 config.json", SCALED),
        "params": Fact(124_000_000, "unsourced: GPT-2 small 124M", INFO),
        "download_bytes": Fact(548_000_000, "unsourced: model.safetensors size", INFO),
    },
}


def _qwen_chat(hidden, intermediate, layers, heads, kv_heads, params, download, size_src, gen_src) -> dict:
    return {
        "tokenizer.class": Fact("Qwen2Tokenizer", "unsourced: Qwen2.5 tokenizer_config tokenizer_class"),
        "tokenizer.single_keys": Fact(["attention_mask", "input_ids"], QWEN_TOK_SRC),
        "tokenizer.special_tokens": Fact({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
                                         "unsourced: Qwen2.5 instruct tokenizer_config (eos <|im_end|>, "
                                         "pad <|endoftext|>, bos null)"),
        "tokenizer.added_tokens": Fact(QWEN_ADDED, "unsourced: Qwen2.5 tokenizer.json added_tokens 151643-151664"),
        "tokenizer.model_max_length": Fact(131072, "unsourced: Qwen2.5 tokenizer_config model_max_length"),
        "tokenizer.chat_template": Fact(True, NOTES + ": a chat stand-in needs the real chat template"),
        "tokenizer.default_system_prompt": Fact(QWEN_SYSTEM, "unsourced: Qwen2.5 chat template default system "
                                                "message (used when the first message is not a system one)"),
        "tokenizer.template_renders_tools": Fact(True, "unsourced: the Qwen2.5 template lists `tools` inside "
                                                 "<tools></tools> in the system message"),
        "generation.do_sample": Fact(True, gen_src),
        "generation.temperature": Fact(0.7, gen_src),
        "generation.top_p": Fact(0.8, gen_src),
        "generation.top_k": Fact(20, gen_src),
        "generation.repetition_penalty": Fact(1.1, gen_src),
        "generation.eos_tokens": Fact(["<|im_end|>", "<|endoftext|>"], "unsourced: generation_config eos_token_id "
                                      "[151645, 151643]"),
        "generation.pad_token": Fact("<|endoftext|>", "unsourced: generation_config pad_token_id 151643"),
        "config.architectures": Fact(["Qwen2ForCausalLM"], size_src),
        "config.model_type": Fact("qwen2", size_src),
        "config.num_attention_heads": Fact(heads, QWEN_CARD if heads == 14 else size_src),
        "config.num_key_value_heads": Fact(kv_heads, QWEN_CARD if heads == 14 else size_src),
        "config.max_position_embeddings": Fact(32768, size_src),
        "config.tie_word_embeddings": Fact(True, size_src),
        "config.rope_theta": Fact(1_000_000.0, size_src),
        "config.hidden_size": Fact(hidden, size_src, SCALED),
        "config.intermediate_size": Fact(intermediate, size_src, SCALED),
        "config.num_hidden_layers": Fact(layers, size_src, SCALED),
        "config.vocab_size": Fact(151936, size_src, SCALED),
        "params": Fact(params, size_src, INFO),
        "download_bytes": Fact(download, "unsourced: model.safetensors (bf16) size", INFO),
    }


MODEL_RECORDS.update({
    "Qwen/Qwen2.5-0.5B-Instruct": _qwen_chat(
        896, 4864, 24, 14, 2, 494_000_000, 988_000_000, QWEN_CFG + "; " + QWEN_CARD,
        f"{ISSUE12} (repetition penalty 1.1); copy of the 0.5B instruct defaults in github zlai-llm/zlai "
        "zlai/models/types/generate_config/qwen2.py (do_sample, temperature 0.7, top_p 0.8, top_k 20, 1.1)"),
    "Qwen/Qwen2.5-1.5B-Instruct": _qwen_chat(
        1536, 8960, 28, 12, 2, 1_540_000_000, 3_090_000_000,
        "unsourced: Qwen2.5-1.5B config.json (hidden 1536, intermediate 8960, 28 layers, 12 Q / 2 KV heads; "
        "Qwen2.5-Coder-1.5B preset in a code-search copy agrees)",
        "unsourced: assumed equal to the 0.5B instruct generation_config (repetition penalty 1.1)"),
    "Qwen/Qwen2.5-0.5B-Instruct-GPTQ-Int4": {
        "config.architectures": Fact(["Qwen2ForCausalLM"], "unsourced: GPTQ repo config.json"),
        "quantization": Fact("gptq 4-bit, group size 128", "unsourced: repo name and quantization_config", INFO),
        "download_bytes": Fact(458_000_000, "unsourced: model.safetensors size", INFO),
    },
    "Qwen/Qwen2.5-0.5B-Instruct-AWQ": {
        "config.architectures": Fact(["Qwen2ForCausalLM"], "unsourced: AWQ repo config.json"),
        "quantization": Fact("awq 4-bit, group size 128", "unsourced: repo name and quantization_config", INFO),
        "download_bytes": Fact(458_000_000, "unsourced: model.safetensors size", INFO),
    },
    # ------------------------------------------------------------------ embeddings and rerankers
    "jhgan/ko-sroberta-multitask": {
        **_klue_tokenizer(),
        "tokenizer.model_max_length": Fact(512, "unsourced: klue/roberta-base tokenizer it was trained from; not "
                                           "checked (sentence-transformers 6 saves max_seq_length into it)", INFO),
        "st.modules": Fact(["Transformer", "Pooling"], "unsourced: modules.json (Transformer + mean Pooling)"),
        "st.max_seq_length": Fact(128, "unsourced: sentence_bert_config.json max_seq_length 128"),
        "st.pooling_mode": Fact("mean", "unsourced: 1_Pooling/config.json pooling_mode_mean_tokens"),
        "config.architectures": Fact(["RobertaModel"], "unsourced: config.json"),
        "config.model_type": Fact("roberta", "unsourced: config.json"),
        "config.type_vocab_size": Fact(1, "unsourced: klue/roberta-base based"),
        "config.max_position_embeddings": Fact(514, "unsourced: klue/roberta-base based"),
        "config.hidden_size": Fact(768, "unsourced: 768-dimensional embeddings", SCALED),
        "config.vocab_size": Fact(32000, "unsourced: klue/roberta-base vocabulary", SCALED),
        "params": Fact(110_600_000, "unsourced: klue/roberta-base size", INFO),
        "download_bytes": Fact(443_000_000, "unsourced: pytorch_model.bin size", INFO),
    },
    "BAAI/bge-reranker-v2-m3": {
        "tokenizer.class": Fact("XLMRobertaTokenizer", "unsourced: tokenizer_config tokenizer_class"),
        "tokenizer.single_keys": Fact(["attention_mask", "input_ids"], XLMR_SRC),
        "tokenizer.pair_second_type_id": Fact(None, XLMR_SRC + " (pairs carry no type ids)"),
        "tokenizer.special_tokens": Fact({"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
                                          "cls_token": "<s>", "pad_token": "<pad>", "unk_token": "<unk>",
                                          "mask_token": "<mask>"}, "unsourced: XLM-R special tokens"),
        "tokenizer.model_max_length": Fact(8192, PITFALLS + ": CrossEncoder max length resolves to 8,192"),
        **_no_chat(),
        "config.architectures": Fact(["XLMRobertaForSequenceClassification"], "unsourced: config.json "
                                     "(code-search copies load it as XLMRobertaForSequenceClassification)"),
        "config.model_type": Fact("xlm-roberta", "unsourced: config.json"),
        "config.num_labels": Fact(1, NOTES + ": a CrossEncoder is a sequence classifier with num_labels=1"),
        "config.type_vocab_size": Fact(1, "unsourced: XLM-R config"),
        "config.max_position_embeddings": Fact(8194, "unsourced: config.json (8192 + 2)"),
        "config.hidden_size": Fact(1024, "unsourced: XLM-R large / bge-m3 backbone", SCALED),
        "config.num_hidden_layers": Fact(24, "unsourced: XLM-R large / bge-m3 backbone", SCALED),
        "config.vocab_size": Fact(250002, "unsourced: XLM-R vocabulary", SCALED),
        "params": Fact(568_000_000, "unsourced: model card 568M", INFO),
        "download_bytes": Fact(2_270_000_000, "unsourced: model.safetensors size", INFO),
    },
    # ------------------------------------------------------------------ multimodal
    "openai/clip-vit-base-patch32": {
        "tokenizer.class": Fact("CLIPTokenizer", "unsourced: tokenizer_config"),
        "tokenizer.single_keys": Fact(["attention_mask", "input_ids"], "unsourced: CLIPTokenizer model_input_names"),
        "tokenizer.special_tokens": Fact({"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                                          "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
                                         "unsourced: special_tokens_map.json"),
        "tokenizer.model_max_length": Fact(77, "unsourced: tokenizer_config model_max_length 77"),
        **_no_chat(),
        "config.architectures": Fact(["CLIPModel"], "unsourced: config.json"),
        "config.model_type": Fact("clip", "unsourced: config.json"),
        "config.text_config.max_position_embeddings": Fact(77, "unsourced: config.json"),
        "config.vision_config.image_size": Fact(224, NOTES + ": image_size 224 so pixel_values have the real shape"),
        "config.vision_config.patch_size": Fact(32, "repo name: ViT-B/32"),
        "config.projection_dim": Fact(512, "unsourced: config.json", SCALED),
        "config.text_config.hidden_size": Fact(512, "unsourced: config.json", SCALED),
        "config.vision_config.hidden_size": Fact(768, "unsourced: config.json (ViT-B)", SCALED),
        "config.text_config.vocab_size": Fact(49408, "unsourced: config.json", SCALED),
        "params": Fact(151_000_000, "unsourced: CLIP ViT-B/32 151M", INFO),
        "download_bytes": Fact(605_000_000, "unsourced: pytorch_model.bin size", INFO),
    },
    "llava-hf/llava-onevision-qwen2-0.5b-ov-hf": {
        "config.architectures": Fact(["LlavaOnevisionForConditionalGeneration"], "unsourced: config.json"),
        "params": Fact(894_000_000, "unsourced: model card", INFO),
        "download_bytes": Fact(1_790_000_000, "unsourced: safetensors size", INFO),
    },
    # ------------------------------------------------------------------ state space models
    "state-spaces/mamba-130m-hf": {
        "tokenizer.class": Fact("GPTNeoXTokenizer", "unsourced: GPT-NeoX tokenizer (tokenizer.json)"),
        "tokenizer.single_keys": Fact(["attention_mask", "input_ids"], "unsourced: GPTNeoXTokenizer defaults"),
        "tokenizer.special_tokens": Fact({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                          "unk_token": "<|endoftext|>", "pad_token": "<|padding|>"},
                                         "unsourced: special_tokens_map.json"),
        **_no_chat(),
        "config.architectures": Fact(["MambaForCausalLM"], "unsourced: config.json"),
        "config.model_type": Fact("mamba", "unsourced: config.json"),
        "config.state_size": Fact(16, "unsourced: config.json"),
        "config.expand": Fact(2, "unsourced: config.json"),
        "config.conv_kernel": Fact(4, "unsourced: config.json"),
        "config.hidden_size": Fact(768, "unsourced: config.json", SCALED),
        "config.num_hidden_layers": Fact(24, "unsourced: config.json", SCALED),
        "config.vocab_size": Fact(50280, "unsourced: config.json", SCALED),
        "params": Fact(129_000_000, "unsourced: 130m", INFO),
        "download_bytes": Fact(517_000_000, "unsourced: model.safetensors size", INFO),
    },
})

# ---------------------------------------------------------------------------- datasets

YNAT_LABELS = ["IT과학", "경제", "사회", "생활문화", "세계", "스포츠", "정치"]
KLUE_CARD = "unsourced: klue/klue dataset card dataset_info (features as the builder reproduces them)"

DATASET_RECORDS: dict[str, dict[str, dict[str, Fact]]] = {
    "klue/klue": {
        "ynat": {
            "features": Fact({"guid": "string", "title": "string", "label": f"ClassLabel({','.join(YNAT_LABELS)})",
                              "url": "string", "date": "string"},
                             NOTES + " (ClassLabel names); " + KLUE_CARD),
            "splits": Fact({"train": 45678, "validation": 9107}, ISSUE12),
        },
        "sts": {
            "features": Fact({"guid": "string", "source": "string", "sentence1": "string", "sentence2": "string",
                              "labels": {"label": "float64", "real-label": "float64",
                                         "binary-label": "ClassLabel(negative,positive)"}},
                             NOTES + " (labels struct); " + KLUE_CARD),
            "splits": Fact({"train": 11668, "validation": 519}, ISSUE12),
        },
        "mrc": {
            "features": Fact({"title": "string", "context": "string", "news_category": "string", "source": "string",
                              "guid": "string", "is_impossible": "bool", "question_type": "int32",
                              "question": "string",
                              "answers": {"answer_start": "list<int32>", "text": "list<string>"}},
                             NOTES + " (answers {answer_start, text}); " + KLUE_CARD),
            "splits": Fact({"train": 17554, "validation": 5841}, ISSUE12),
            "unanswerable_share": Fact(0.31, ISSUE12 + ": ~31% unanswerable (checked within 0.02)"),
            "context_chars": Fact([500, 1500], "unsourced: " + ISSUE12 + " says contexts are 500-1,200 tokens; "
                                  "the stand-in keeps the median context length within 500-1,500 characters"),
        },
    },
}


def fact(repo_id: str, name: str):
    """The recorded value (builders use this so that the stand-in follows the record)."""
    return MODEL_RECORDS[repo_id][name].value


def unsourced_facts() -> list[tuple[str, str, str]]:
    rows = [(repo, name, f.source) for repo, facts in MODEL_RECORDS.items() for name, f in facts.items()]
    rows += [(f"{repo}:{config}", name, f.source) for repo, configs in DATASET_RECORDS.items()
             for config, facts in configs.items() for name, f in facts.items()]
    return [row for row in rows if row[2].startswith("unsourced")]
