"""ch08_serving/gguf_export.py: 작은 Qwen2 모델을 GGUF 로 쓰고, gguf 패키지로 읽고, transformers 로 다시 불러 본다."""

from __future__ import annotations

import pytest

gguf = pytest.importorskip("gguf")
torch = pytest.importorskip("torch")

from ch08_serving import gguf_export as ge


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """작은 byte-level BPE 토크나이저 + 무작위 Qwen2 모델 (폴더에 저장해 두고 GGUF 와 비교)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    texts = ["안녕하세요 반갑습니다", "hello world, tiny model", "양자화는 블록마다 스케일을 둡니다"] * 20
    raw.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|im_end|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    from tokenizers import decoders
    raw.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = Qwen2ForCausalLM(cfg).eval()
    return model, tok, tmp_path_factory.mktemp("gguf")


def test_bits_per_weight_of_type_comes_from_the_table():
    assert ge.bits_per_weight_of_type("F16") == 16
    assert ge.bits_per_weight_of_type("Q8_0") == 8 * 34 / 32
    assert ge.bits_per_weight_of_type("Q4_0") == 8 * 18 / 32
    assert ge.bits_per_weight_of_type("Q4_K") == 4.5
    assert ge.bits_per_weight_of_type("Q6_K") == 8 * 210 / 256


def test_choose_type_keeps_vectors_f32_and_falls_back_when_blocks_do_not_fit():
    assert ge.choose_type("blk.0.attn_norm.weight", (64,), "Q4_0") == "F32"
    assert ge.choose_type("blk.0.attn_q.weight", (64, 64), "Q4_0") == "Q4_0"
    assert ge.choose_type("blk.0.attn_q.weight", (64, 48), "Q8_0") == "F16"  # 48 % 32 != 0
    with pytest.raises(ValueError, match="choose from"):
        ge.choose_type("x", (32, 32), "Q4_K")


@pytest.mark.parametrize("ttype", ["F16", "Q8_0", "Q4_0"])
def test_round_trip_metadata_table_and_transformers_load(tiny, ttype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok, folder = tiny
    path = folder / ttype / "m.gguf"
    written = ge.export_gguf(model, tok, path, ttype, name="tiny-qwen2")
    meta = ge.read_metadata(path)
    assert meta["general.architecture"] == "qwen2" and meta["general.name"] == "tiny-qwen2"
    assert meta["qwen2.block_count"] == 2 and meta["qwen2.embedding_length"] == 64
    assert meta["qwen2.attention.head_count"] == 4 and meta["qwen2.attention.head_count_kv"] == 2
    assert ge.read_metadata(path, ["tokenizer.chat_template"])["tokenizer.chat_template"] == tok.chat_template
    table = ge.tensor_table(path)
    assert {r["name"]: r["type"] for r in table} == written
    n_hf = len([k for k in model.state_dict() if k != "lm_head.weight"])
    assert len(table) == n_hf and "output.weight" not in written
    assert {r["type"] for r in table if len(r["shape"]) > 1} == {ttype}
    assert abs(ge.bits_per_weight([r for r in table if len(r["shape"]) > 1]) - ge.bits_per_weight_of_type(ttype)) < 1e-9

    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    gtok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    text = "안녕하세요 hello 양자화"
    assert gtok(text)["input_ids"] == tok(text)["input_ids"]
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        ref, got = model(ids).logits, loaded(ids).logits
    rel = ((got - ref).norm() / ref.norm()).item()
    bound = {"F16": 1e-3, "Q8_0": 10 / 254, "Q4_0": 0.5}[ttype]  # 한 칸 오차: fp16 2^-11, Q8_0 1/254, Q4_0 1/16
    assert rel < bound, rel
    # 그리고 가중치는 정말 다시 채워졌다 (무작위 초기화가 아니다)
    w = loaded.model.layers[0].self_attn.q_proj.weight
    assert torch.allclose(w, model.model.layers[0].self_attn.q_proj.weight, atol=0.2)


def test_file_sizes_follow_bit_widths(tiny):
    model, tok, folder = tiny
    sizes = {}
    for ttype in ("F16", "Q8_0", "Q4_0"):
        path = folder / f"size-{ttype}.gguf"
        ge.export_gguf(model, tok, path, ttype)
        sizes[ttype] = path.stat().st_size
    assert sizes["F16"] > sizes["Q8_0"] > sizes["Q4_0"]


def test_unsupported_model_and_type_are_refused(tiny, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    model, tok, _ = tiny
    with pytest.raises(ValueError, match="choose from"):
        ge.export_gguf(model, tok, tmp_path / "x.gguf", "Q4_K")
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=320))
    with pytest.raises(ValueError, match="not supported"):
        ge.export_gguf(gpt2, tok, tmp_path / "y.gguf", "F16")
    assert not (tmp_path / "x.gguf").exists() and not (tmp_path / "y.gguf").exists()


def _table(rows):
    return [{"name": n, "type": "F16", "shape": s, "n_values": int(__import__("math").prod(s)), "n_bytes": 0}
            for n, s in rows]


def test_q4_k_m_rule_follows_llama_cpp():
    n_layers = 8  # use_more_bits: 층 0, 7 (처음·끝 1/8) 과 (i - 1) % 3 == 2 인 층 3, 6
    rows = [("token_embd.weight", (512, 1000))]
    for i in range(n_layers):
        rows += [(f"blk.{i}.attn_v.weight", (512, 128)), (f"blk.{i}.ffn_down.weight", (512, 512)),
                 (f"blk.{i}.attn_q.weight", (512, 512)), (f"blk.{i}.attn_norm.weight", (512,))]
    types = ge.q4_k_m_types(_table(rows))
    assert types["token_embd.weight"] == "Q6_K"  # 묶인 모델: 임베딩이 출력층
    assert [i for i in range(n_layers) if types[f"blk.{i}.attn_v.weight"] == "Q6_K"] == [0, 3, 6, 7]
    assert all(types[f"blk.{i}.attn_q.weight"] == "Q4_K" for i in range(n_layers))
    assert all(types[f"blk.{i}.attn_norm.weight"] == "F32" for i in range(n_layers))
    untied = ge.q4_k_m_types(_table(rows + [("output.weight", (512, 1000))]))
    assert untied["output.weight"] == "Q6_K" and untied["token_embd.weight"] == "Q4_K"
    small = ge.q4_k_m_types(_table([("blk.0.attn_q.weight", (32, 32)), ("blk.0.attn_v.weight", (32, 16))]))
    assert small == {"blk.0.attn_q.weight": "Q5_0", "blk.0.attn_v.weight": "Q8_0"}  # 256 으로 안 나뉨
    bpw = ge.planned_bits_per_weight(_table(rows), types)
    assert 4.5 < bpw < 6.5625
