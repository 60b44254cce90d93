"""8.5 GGUF 로 로컬에서 돌리기: transformers 모델을 GGUF 파일 하나로 쓰고 다시 읽는 도구.

GGUF 는 llama.cpp 의 파일 형식이다. 파일 하나에 (1) 메타데이터 키-값 (아키텍처, 층 수, 토크나이저 어휘·병합 규칙,
채팅 템플릿 ...) 과 (2) 텐서 표 (이름, 모양, ggml 자료형, 위치) 와 (3) 블록 단위로 양자화된 텐서 데이터가 들어 있다.

이진 형식은 직접 쓰지 않는다: llama.cpp 저장소가 관리하는 `gguf` 패키지의 ``GGUFWriter`` (쓰기), ``TensorNameMap``
(HF 이름 -> GGUF 이름), ``gguf.quants.quantize`` (Q8_0, Q4_0 블록 양자화), ``SpecialVocab`` (병합 규칙·특수 토큰·
채팅 템플릿), ``GGUFReader`` (읽기) 만 쓴다. 지금은 Qwen2 계열(``model_type == "qwen2"``) 만 지원한다.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

TENSOR_TYPES = ("F32", "F16", "Q8_0", "Q4_0")  # 이 도구가 쓸 수 있는 자료형 (gguf 패키지의 양자화기가 있는 것)
FILE_TYPES = {"F32": "ALL_F32", "F16": "MOSTLY_F16", "Q8_0": "MOSTLY_Q8_0", "Q4_0": "MOSTLY_Q4_0"}
ARCHITECTURES = {"qwen2": "QWEN2"}  # transformers model_type -> gguf.MODEL_ARCH 이름

# llama.cpp 의 Q4_K_M 규칙 (src/llama-quant.cpp: llama_tensor_get_type) 중 dense 모델에 해당하는 부분.
K_FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}  # 열 수가 256 의 배수가 아닐 때 llama.cpp 의 대체


def _gguf():
    try:
        import gguf
    except ImportError as err:  # pragma: no cover - 설치 안내
        raise ImportError("gguf 패키지가 필요합니다: pip install gguf (requirements.txt 의 버전)") from err
    return gguf


def block_size(tensor_type: str) -> int:
    """한 블록에 든 값의 수 (F16/F32 는 1)."""
    gguf = _gguf()
    return gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[tensor_type]][0]


def bits_per_weight_of_type(tensor_type: str) -> float:
    """자료형 하나의 값당 비트 = 블록 바이트 x 8 / 블록 값 수 (gguf.GGML_QUANT_SIZES 표에서 계산)."""
    gguf = _gguf()
    values, nbytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[tensor_type]]
    return 8 * nbytes / values


def choose_type(name: str, shape: tuple[int, ...], tensor_type: str) -> str:
    """llama.cpp 와 같은 규칙: 1차원 텐서(노름, 편향)는 F32, 마지막 차원이 블록 크기로 안 나뉘면 F16."""
    if tensor_type not in TENSOR_TYPES:
        raise ValueError(f"tensor_type {tensor_type!r}: choose from {TENSOR_TYPES}")
    if len(shape) < 2:
        return "F32"
    if shape[-1] % block_size(tensor_type):
        return "F16"
    return tensor_type


def _token_list(tokenizer, vocab_size: int) -> tuple[list[str], list[int]]:
    """id 순서의 토큰 문자열과 종류 (llama.cpp 변환기처럼: 특수 토큰 CONTROL, 추가 토큰 USER_DEFINED)."""
    gguf = _gguf()
    by_id = {i: tok for tok, i in tokenizer.get_vocab().items()}
    added = {i: t for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items()}
    tokens, types = [], []
    for i in range(vocab_size):
        tok = by_id.get(i)
        if tok is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(tok)
            types.append(gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(tok)
            types.append(gguf.TokenType.NORMAL)
    return tokens, [int(t) for t in types]


def export_gguf(model, tokenizer, path: str | Path, tensor_type: str = "Q8_0", name: str | None = None) -> dict:
    """model (transformers, Qwen2 계열) 과 tokenizer 를 GGUF 파일 하나로 쓴다. 쓴 텐서의 {이름: 자료형} 을 돌려준다."""
    gguf = _gguf()
    cfg = model.config
    if cfg.model_type not in ARCHITECTURES:
        raise ValueError(f"model_type {cfg.model_type!r} is not supported; supported: {sorted(ARCHITECTURES)}")
    if tensor_type not in TENSOR_TYPES:
        raise ValueError(f"tensor_type {tensor_type!r}: choose from {TENSOR_TYPES}")
    arch = gguf.MODEL_ARCH[ARCHITECTURES[cfg.model_type]]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_name(name or getattr(cfg, "_name_or_path", "") or cfg.model_type)
    writer.add_file_type(int(gguf.LlamaFileType[FILE_TYPES[tensor_type]]))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    rope = (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta", getattr(cfg, "rope_theta", 10000.0))
    writer.add_rope_freq_base(float(rope))
    _add_tokenizer(writer, tokenizer, cfg.vocab_size)
    types = _add_tensors(writer, model, arch, tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return types


def _add_tokenizer(writer, tokenizer, vocab_size: int) -> None:
    gguf = _gguf()
    tokens, types = _token_list(tokenizer, vocab_size)
    writer.add_tokenizer_model("gpt2")  # byte-level BPE (llama.cpp 의 이름)
    writer.add_tokenizer_pre("qwen2")  # 사전 분리 정규식의 이름
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    with tempfile.TemporaryDirectory() as folder:  # SpecialVocab 은 tokenizer.json 이 있는 폴더를 읽는다
        tokenizer.save_pretrained(folder)
        special = gguf.SpecialVocab(folder, load_merges=True, n_vocab=vocab_size)
        if special.chat_template is None and getattr(tokenizer, "chat_template", None):
            special.chat_template = tokenizer.chat_template
        special.add_to_gguf(writer, quiet=True)


def _add_tensors(writer, model, arch, tensor_type: str) -> dict[str, str]:
    gguf = _gguf()
    name_map = gguf.get_tensor_name_map(arch, model.config.num_hidden_layers)
    state = model.state_dict()
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)  # 묶인 가중치는 token_embd 하나로 (llama.cpp 도 output 을 생략)
    written: dict[str, str] = {}
    for hf_name, tensor in state.items():
        gguf_name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))  # 접미사를 붙여 돌려준다
        if gguf_name is None:
            raise ValueError(f"no GGUF name for tensor {hf_name!r}")
        data = tensor.detach().float().cpu().numpy()
        chosen = choose_type(gguf_name, data.shape, tensor_type)
        qtype = gguf.GGMLQuantizationType[chosen]
        if chosen == "F32":
            writer.add_tensor(gguf_name, data.astype(np.float32))
        elif chosen == "F16":
            writer.add_tensor(gguf_name, data.astype(np.float16))
        else:
            packed = gguf.quants.quantize(data, qtype)
            writer.add_tensor(gguf_name, packed, raw_shape=packed.shape, raw_dtype=qtype)
        written[gguf_name] = chosen
    return written


def read_metadata(path: str | Path, keys=None) -> dict:
    """GGUFReader 로 메타데이터를 읽는다 (긴 배열은 길이만). keys 가 있으면 그 키만."""
    gguf = _gguf()
    reader = gguf.GGUFReader(str(path))
    out = {}
    for key, field in reader.fields.items():
        if keys is not None and key not in keys:
            continue
        if key.startswith("GGUF."):
            continue
        if field.types and field.types[0] == gguf.GGUFValueType.ARRAY and len(field.data) > 8:
            out[key] = f"[배열 {len(field.data)}개]"
        else:
            out[key] = field.contents()
    return out


def tensor_table(path: str | Path) -> list[dict]:
    """텐서 표: 이름, ggml 자료형, 모양 (GGUF 는 작은 차원부터 적는다), 값 수, 바이트."""
    gguf = _gguf()
    reader = gguf.GGUFReader(str(path))
    return [{"name": t.name, "type": t.tensor_type.name, "shape": tuple(int(s) for s in t.shape),
             "n_values": int(t.n_elements), "n_bytes": int(t.n_bytes)} for t in reader.tensors]


def bits_per_weight(table: list[dict]) -> float:
    """파일의 텐서 표로 잰 값당 평균 비트 = 텐서 바이트 합 x 8 / 값 수 합."""
    values = sum(row["n_values"] for row in table)
    if not values:
        raise ValueError("empty tensor table")
    return 8 * sum(row["n_bytes"] for row in table) / values


def _use_more_bits(layer: int, n_layers: int) -> bool:
    return layer < n_layers // 8 or layer >= 7 * n_layers // 8 or (layer - n_layers // 8) % 3 == 2


def q4_k_m_types(table: list[dict]) -> dict[str, str]:
    """llama.cpp 가 Q4_K_M 으로 양자화할 때 텐서마다 고르는 자료형 (dense 모델 규칙, 텐서 표로 계산).

    기본은 Q4_K. 출력(묶인 모델이면 token_embd) 은 Q6_K, attn_v 와 ffn_down 은 처음·끝 1/8 층과 그 사이 세 층마다
    하나가 Q6_K. 1차원 텐서는 F32. 열 수가 256 의 배수가 아니면 K 자료형 대신 K_FALLBACK 의 자료형.
    """
    names = {row["name"] for row in table}
    layers = [int(n.split(".")[1]) for n in names if n.startswith("blk.")]
    n_layers = max(layers) + 1 if layers else 0
    has_output = "output.weight" in names
    chosen = {}
    for row in table:
        name, shape = row["name"], row["shape"]
        if len(shape) < 2:
            chosen[name] = "F32"
            continue
        kind = "Q4_K"
        if name == "output.weight" or (not has_output and name == "token_embd.weight"):
            kind = "Q6_K"
        elif name.startswith("blk.") and name.split(".")[2] in ("attn_v", "ffn_down"):
            kind = "Q6_K" if _use_more_bits(int(name.split(".")[1]), n_layers) else "Q4_K"
        if shape[0] % 256:  # GGUF 모양의 첫 값 = 한 행의 값 수 (블록이 놓이는 방향)
            kind = K_FALLBACK[kind]
        chosen[name] = kind
    return chosen


def planned_bits_per_weight(table: list[dict], types: dict[str, str]) -> float:
    """텐서 표의 값 수와 자료형 표(GGML_QUANT_SIZES) 로 계산한 값당 평균 비트 (파일을 만들지 않고)."""
    values = sum(row["n_values"] for row in table)
    bits = sum(row["n_values"] * bits_per_weight_of_type(types[row["name"]]) for row in table)
    return bits / values
