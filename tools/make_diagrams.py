"""Draw the course's small diagrams into assets/diagrams/ (issue 15): run by hand after a change.

    .venv/bin/python tools/make_diagrams.py          # all diagrams
    .venv/bin/python tools/make_diagrams.py rag_pipeline

Boxes and arrows only (matplotlib, English labels so no Hangul font is needed), PNG at 80 dpi so each
file stays a few tens of KB. The notebooks show them with `![설명](../assets/diagrams/NAME.png)`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

OUT = Path(__file__).resolve().parents[1] / "assets" / "diagrams"
DPI = 80
COLORS = {"in": "#dbe9f6", "op": "#fde2c4", "norm": "#e4f3d8", "out": "#eadcf3", "store": "#f6f2c6",
          "gray": "#eeeeee"}


def canvas(width: float, height: float):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(0, width * 10)
    ax.set_ylim(0, height * 10)
    ax.axis("off")
    return fig, ax


def box(ax, x, y, w, h, text, kind="op", size=10, bold=False):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.3,rounding_size=1.2",
                                fc=COLORS[kind], ec="#444444", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, weight="bold" if bold else "normal")
    return (x, y, w, h)


def arrow(ax, start, end, text=None, style="-|>", color="#333333", rad=0.0, size=8):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color, lw=1.2,
                                 connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((start[0] + end[0]) / 2 + 0.8, (start[1] + end[1]) / 2, text, fontsize=size, color="#555555",
                va="center")


def top(b):
    return (b[0], b[1] + b[3] / 2 + 0.3)


def bottom(b):
    return (b[0], b[1] - b[3] / 2 - 0.3)


def left(b):
    return (b[0] - b[2] / 2 - 0.3, b[1])


def right(b):
    return (b[0] + b[2] / 2 + 0.3, b[1])


def title(ax, text, x, y, size=11):
    ax.text(x, y, text, ha="center", va="center", fontsize=size, weight="bold")


# ---------------------------------------------------------------------------------------------- diagrams

def transformer_overview():
    """Encoder-decoder overview (left) and the Q/K/V flow of one attention head (right)."""
    fig, ax = canvas(9.6, 6.0)
    title(ax, "Transformer (pre-LN)", 24, 57)
    e_in = box(ax, 12, 6, 17, 4, "tokens -> embedding\n+ position", "in", 9)
    e_att = box(ax, 12, 20, 17, 5, "self-attention\n(all tokens see all)", "op", 9)
    e_ffn = box(ax, 12, 33, 17, 5, "feed-forward", "op", 9)
    ax.add_patch(FancyBboxPatch((2, 14), 20, 26, boxstyle="round,pad=0.3", fc="none", ec="#888888", ls="--"))
    ax.text(12, 42, "encoder x N", ha="center", fontsize=9, color="#555555")
    arrow(ax, top(e_in), bottom(e_att))
    arrow(ax, top(e_att), bottom(e_ffn))
    d_in = box(ax, 36, 6, 17, 4, "target tokens ->\nembedding + position", "in", 9)
    d_att = box(ax, 36, 18, 17, 4.5, "causal self-attention\n(no peeking ahead)", "op", 9)
    d_x = box(ax, 36, 28, 19, 4.5, "cross-attention\nQ: decoder, K V: encoder", "op", 8)
    d_ffn = box(ax, 36, 38, 17, 4, "feed-forward", "op", 9)
    d_out = box(ax, 36, 50, 17, 4, "linear + softmax\n-> next token", "out", 9)
    ax.add_patch(FancyBboxPatch((26, 13), 20, 29, boxstyle="round,pad=0.3", fc="none", ec="#888888", ls="--"))
    ax.text(36, 43.5, "decoder x N", ha="center", fontsize=9, color="#555555")
    for a, b in [(d_in, d_att), (d_att, d_x), (d_x, d_ffn), (d_ffn, d_out)]:
        arrow(ax, top(a), bottom(b))
    arrow(ax, (22.5, 33), left(d_x), rad=-0.2)
    # right: one head
    title(ax, "One attention head", 74, 57)
    x = box(ax, 74, 5, 14, 4, "x  (L x d)", "in", 9)
    q = box(ax, 62, 17, 8, 4, "Q = x Wq", "norm", 9)
    k = box(ax, 74, 17, 8, 4, "K = x Wk", "norm", 9)
    v = box(ax, 86, 17, 8, 4, "V = x Wv", "norm", 9)
    s = box(ax, 68, 29, 17, 4.5, "scores = Q K^T / sqrt(d_k)\n(+ mask: -inf)", "op", 9)
    p = box(ax, 68, 40, 14, 4, "softmax (rows sum to 1)", "op", 9)
    o = box(ax, 77, 51, 16, 4, "weights @ V  -> output", "out", 9)
    for t in (q, k, v):
        arrow(ax, top(x), bottom(t))
    arrow(ax, top(q), bottom(s))
    arrow(ax, top(k), bottom(s))
    arrow(ax, top(s), bottom(p))
    arrow(ax, top(p), bottom(o))
    arrow(ax, top(v), (84, 48.7), rad=0.0)
    return fig


def pre_post_ln():
    fig, ax = canvas(8.0, 4.6)
    for cx, name, order in [(20, "post-LN (original 2017)", "post"), (60, "pre-LN (GPT-2 and later)", "pre")]:
        title(ax, name, cx, 43)
        xin = box(ax, cx, 4, 10, 4, "x", "in")
        if order == "post":
            sub = box(ax, cx, 16, 16, 4.5, "sublayer(x)", "op")
            add = box(ax, cx, 26, 8, 4, "x + .", "gray")
            ln = box(ax, cx, 36, 12, 4, "LayerNorm", "norm")
            arrow(ax, top(xin), bottom(sub))
            arrow(ax, top(sub), bottom(add))
            arrow(ax, top(add), bottom(ln))
            arrow(ax, (cx - 5.5, 6), (cx - 4.5, 26), text=None, rad=-0.5)
            ax.text(cx + 10, 36, "normalise\nthe sum", fontsize=8, va="center")
        else:
            ln = box(ax, cx, 14, 12, 4, "LayerNorm", "norm")
            sub = box(ax, cx, 24, 16, 4.5, "sublayer(LN(x))", "op")
            add = box(ax, cx, 35, 8, 4, "x + .", "gray")
            arrow(ax, top(xin), bottom(ln))
            arrow(ax, top(ln), bottom(sub))
            arrow(ax, top(sub), bottom(add))
            arrow(ax, (cx - 5.5, 6), (cx - 4.5, 35), rad=-0.45)
            ax.text(cx + 10, 35, "residual adds the\nun-normalised x", fontsize=8, va="center")
        ax.text(cx - 14, 18, "residual", fontsize=8, color="#555555", rotation=90, va="center")
    return fig


def rag_pipeline():
    fig, ax = canvas(10.0, 4.4)
    title(ax, "Indexing (once)", 20, 41, 10)
    title(ax, "Answering (per question)", 66, 41, 10)
    docs = box(ax, 8, 30, 12, 5, "documents", "in", 9)
    chunks = box(ax, 8, 18, 12, 5, "chunks / nodes", "gray", 9)
    emb = box(ax, 26, 18, 12, 5, "embedding\nmodel", "op", 9)
    store = box(ax, 26, 5, 16, 5, "vector store\n(ChromaDB)", "store", 9)
    arrow(ax, bottom(docs), top(chunks))
    arrow(ax, right(chunks), left(emb))
    arrow(ax, bottom(emb), top(store))
    q = box(ax, 46, 30, 12, 5, "question", "in", 9)
    qe = box(ax, 46, 18, 12, 5, "embed\nquestion", "op", 9)
    hits = box(ax, 46, 5, 12, 5, "top-k chunks\n+ sources", "store", 9)
    prompt = box(ax, 66, 5, 14, 5, "prompt =\ncontext + question", "gray", 9)
    llm = box(ax, 66, 18, 10, 5, "LLM", "op", 10, bold=True)
    ans = box(ax, 86, 18, 14, 5, "answer\n(with sources)", "out", 9)
    arrow(ax, bottom(q), top(qe))
    arrow(ax, bottom(qe), top(hits))
    arrow(ax, right(store), left(hits))
    ax.text(38.5, 7.5, "search", fontsize=8, color="#555555", ha="center")
    arrow(ax, right(hits), left(prompt))
    arrow(ax, top(prompt), bottom(llm))
    arrow(ax, right(llm), left(ans))
    arrow(ax, right(q), (72, 8.5), None, rad=-0.35)
    ax.text(74, 30, "the question also\ngoes into the prompt", fontsize=7, color="#555555")
    return fig


def bi_cross_encoder():
    fig, ax = canvas(9.0, 4.6)
    title(ax, "Bi-encoder: encode separately, compare vectors", 22, 43, 10)
    q = box(ax, 10, 5, 12, 4, "query", "in", 9)
    d = box(ax, 34, 5, 12, 4, "document", "in", 9)
    eq = box(ax, 10, 17, 12, 4.5, "encoder", "op", 9)
    ed = box(ax, 34, 17, 12, 4.5, "encoder\n(same weights)", "op", 9)
    vq = box(ax, 10, 27, 10, 3.5, "u", "norm", 9)
    vd = box(ax, 34, 27, 16, 3.5, "v (precomputed)", "norm", 9)
    sim = box(ax, 22, 36, 14, 4, "cos(u, v)", "out", 9)
    for a, b in [(q, eq), (d, ed), (eq, vq), (ed, vd)]:
        arrow(ax, top(a), bottom(b))
    arrow(ax, top(vq), left(sim))
    arrow(ax, top(vd), right(sim))
    title(ax, "Cross-encoder: one pass over the pair", 68, 43, 10)
    pair = box(ax, 68, 5, 30, 4, "[CLS] query [SEP] document [SEP]", "in", 9)
    enc = box(ax, 68, 18, 22, 6, "encoder\n(tokens attend across\nquery and document)", "op", 8)
    score = box(ax, 68, 32, 12, 4, "score", "out", 9)
    arrow(ax, top(pair), bottom(enc))
    arrow(ax, top(enc), bottom(score))
    ax.text(22, 0.5, "fast: 1 model call per query + vector search", ha="center", fontsize=8, color="#555555")
    ax.text(68, 0.5, "accurate, slow: 1 call per (query, document)", ha="center", fontsize=8, color="#555555")
    return fig


def paged_attention():
    fig, ax = canvas(9.6, 4.6)
    title(ax, "Logical blocks (per sequence)", 18, 43, 10)
    title(ax, "Block table", 45, 43, 10)
    title(ax, "Physical KV blocks (GPU memory)", 76, 43, 10)
    seqs = {"seq A": [(7, "A0"), (2, "A1"), (5, "A2")], "seq B": [(0, "B0"), (4, "B1")]}
    colors = {"seq A": COLORS["in"], "seq B": COLORS["op"]}
    y = 34
    for name, blocks in seqs.items():
        ax.text(2, y, name, fontsize=9, va="center")
        for i, (phys, label) in enumerate(blocks):
            ax.add_patch(plt.Rectangle((8 + i * 7, y - 2.5), 6, 5, fc=colors[name], ec="#444444"))
            ax.text(11 + i * 7, y, label, ha="center", va="center", fontsize=9)
        table = ", ".join(str(p) for p, _ in blocks)
        ax.text(45, y, f"{name}: [{table}]", ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round", "fc": COLORS["gray"], "ec": "#444444"})
        y -= 14
    owner = {p: (n, lab) for n, bl in seqs.items() for p, lab in bl}
    for p in range(8):
        row, col = divmod(p, 4)
        x0, y0 = 62 + col * 8, 28 - row * 12
        name, lab = owner.get(p, (None, "free"))
        ax.add_patch(plt.Rectangle((x0, y0), 7, 7, fc=colors.get(name, "white"), ec="#444444"))
        ax.text(x0 + 3.5, y0 + 4.5, lab, ha="center", va="center", fontsize=9)
        ax.text(x0 + 3.5, y0 + 1.3, f"#{p}", ha="center", va="center", fontsize=7, color="#666666")
    ax.text(48, 4, "blocks are allocated on demand and need not be contiguous;\n"
            "a finished sequence returns its blocks to the free list", ha="center", fontsize=8, color="#555555")
    return fig


def llava():
    fig, ax = canvas(10.0, 3.8)
    img = box(ax, 7, 26, 11, 5, "image", "in", 9)
    vis = box(ax, 24, 26, 15, 6, "vision encoder\n(CLIP ViT / SigLIP)\nfrozen", "op", 8)
    proj = box(ax, 43, 26, 13, 6, "projector\n(MLP)\ntrained", "norm", 8)
    toks = box(ax, 62, 26, 15, 5, "image tokens\n(LLM width)", "gray", 8)
    txt = box(ax, 62, 8, 15, 5, "text tokens\n(prompt)", "in", 8)
    llm = box(ax, 84, 17, 13, 8, "LLM\n(decoder)", "op", 10, bold=True)
    out = box(ax, 84, 33, 13, 4, "answer text", "out", 9)
    arrow(ax, right(img), left(vis))
    arrow(ax, right(vis), left(proj))
    arrow(ax, right(proj), left(toks))
    arrow(ax, right(toks), (77, 19))
    arrow(ax, right(txt), (77, 15))
    arrow(ax, top(llm), bottom(out))
    ax.text(25, 9, "stage 1: train the projector on image-caption pairs;\n"
            "stage 2: instruction tuning (projector + LLM)", ha="center", fontsize=8, color="#555555")
    return fig


def agent_loop():
    fig, ax = canvas(7.0, 5.0)
    user = box(ax, 35, 45, 16, 4, "user task", "in", 9)
    llm = box(ax, 35, 30, 20, 6, "LLM (brain)\nplan next step", "op", 9, bold=True)
    tool = box(ax, 60, 15, 18, 5, "tool / code run\n(action)", "norm", 9)
    obs = box(ax, 10, 15, 16, 5, "observation\n(result, error)", "gray", 9)
    mem = box(ax, 60, 30, 12, 5, "memory\n(RAG)", "store", 9)
    done = box(ax, 35, 4, 22, 4, "final answer / stop condition", "out", 8)
    arrow(ax, bottom(user), top(llm))
    arrow(ax, right(llm), (51, 17.8), "call", rad=-0.2)
    arrow(ax, left(tool), right(obs), None, rad=0.3)
    arrow(ax, top(obs), left(llm), "read", rad=-0.25)
    arrow(ax, right(llm), left(mem), style="<|-|>")
    arrow(ax, bottom(llm), top(done))
    return fig


def mamba_block():
    fig, ax = canvas(7.6, 7.4)
    xin = box(ax, 38, 4, 14, 4, "x  (L x d)", "in", 9)
    norm = box(ax, 38, 13, 14, 4, "RMSNorm", "norm", 9)
    inp = box(ax, 38, 22, 20, 4, "in_proj -> 2 x d_inner", "op", 9)
    conv = box(ax, 24, 32, 16, 4.5, "causal conv1d\n+ SiLU", "op", 8)
    ssm = box(ax, 24, 43, 20, 5.5, "selective SSM scan\nDelta, B, C from input", "op", 8)
    gate = box(ax, 56, 37, 12, 4, "SiLU (gate)", "norm", 9)
    mul = box(ax, 38, 52, 8, 3.6, "\u00d7", "gray", 11)
    outp = box(ax, 38, 59, 14, 3.6, "out_proj", "op", 9)
    for a, b in [(xin, norm), (norm, inp)]:
        arrow(ax, top(a), bottom(b))
    arrow(ax, top(inp), bottom(conv), rad=0.2)
    arrow(ax, top(inp), bottom(gate), rad=-0.2)
    arrow(ax, top(conv), bottom(ssm))
    arrow(ax, top(ssm), left(mul))
    arrow(ax, top(gate), right(mul))
    arrow(ax, top(mul), bottom(outp))
    add = box(ax, 38, 68, 16, 3.6, "+ x (residual)", "gray", 9)
    arrow(ax, top(outp), bottom(add))
    arrow(ax, right(xin), (68, 4), style="-")
    arrow(ax, (68, 4), (68, 68), style="-")
    arrow(ax, (68, 68), right(add))
    ax.text(69.5, 30, "residual", fontsize=8, color="#555555", rotation=90)
    return fig


DIAGRAMS = {
    "transformer_overview": transformer_overview,
    "pre_post_ln": pre_post_ln,
    "rag_pipeline": rag_pipeline,
    "bi_cross_encoder": bi_cross_encoder,
    "paged_attention": paged_attention,
    "llava": llava,
    "agent_loop": agent_loop,
    "mamba_block": mamba_block,
}


def main(names: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names or DIAGRAMS:
        fig = DIAGRAMS[name]()
        path = OUT / f"{name}.png"
        fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        print(f"{path.relative_to(OUT.parents[1])}: {path.stat().st_size / 1024:.1f} KB")


if __name__ == "__main__":
    main(sys.argv[1:])
