"""The smoke world itself: the network guard, the manifest, the stand-ins and the local server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.world import build, plugin, standins
from tools import colab_setup

GUARD_PROBE = """
import socket, sys
try:
    socket.create_connection(("203.0.113.7", 80), timeout=5)
    print("OUTSIDE-REACHED")
except ConnectionRefusedError as err:
    print("BLOCKED:", err)
try:
    socket.getaddrinfo("huggingface.co", 443)
    print("DNS-RESOLVED")
except OSError as err:
    print("DNS-BLOCKED:", err)
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n"); print("LOOPBACK:", s.recv(64)[:12])
"""


@pytest.fixture()
def loopback_http():
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def probe_env(tmp_path) -> dict:
    """The run's environment, with the guard logging to a private file (deliberate attempts stay out of
    the session's report, which fails the run on any attempt)."""
    return {**os.environ, "COURSE_NETGUARD_LOG": str(tmp_path / "attempts.log")}


def test_guard_in_a_child_process_blocks_outside_and_allows_loopback(loopback_http, tmp_path):
    run = subprocess.run([sys.executable, "-c", GUARD_PROBE, str(loopback_http)], capture_output=True, text=True,
                         timeout=60, env=probe_env(tmp_path))
    assert "BLOCKED: smoke world: connection to 203.0.113.7:80 blocked" in run.stdout, run.stderr
    assert "DNS-BLOCKED" in run.stdout
    assert "OUTSIDE-REACHED" not in run.stdout and "DNS-RESOLVED" not in run.stdout
    assert "LOOPBACK: b'HTTP/1.0 200" in run.stdout
    assert "203.0.113.7" in (tmp_path / "attempts.log").read_text()


def test_guard_inside_a_notebook_kernel(loopback_http, tmp_path):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env=probe_env(tmp_path))
    try:
        outputs = []
        kc.execute_interactive(GUARD_PROBE.replace("int(sys.argv[1])", str(loopback_http)), timeout=60,
                               output_hook=lambda msg: outputs.append(msg["content"].get("text", "")))
        text = "".join(outputs)
        assert "BLOCKED: smoke world" in text and "OUTSIDE-REACHED" not in text
        assert "LOOPBACK: b'HTTP/1.0 200" in text
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_guard_in_this_process(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_NETGUARD_LOG", str(tmp_path / "attempts.log"))
    with pytest.raises(ConnectionRefusedError, match="only loopback"):
        socket.create_connection(("198.51.100.1", 443), timeout=5)


def test_smoke_environment_points_only_at_loopback(tmp_path):
    env = plugin.smoke_environment(tmp_path, 12345)
    assert env["HF_HUB_OFFLINE"] == "1" and env["COURSE_QUICK"] == "1"
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:12345/v1"
    assert os.path.isfile(os.path.join(env["TIKTOKEN_CACHE_DIR"], "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"))


def test_tag_rules():
    assert plugin.skip_reason(["gpu"], cuda=False, original_env={}) is not None
    assert plugin.skip_reason(["gpu"], cuda=True, original_env={}) is None
    keyed = ["needs-key", "key:PINECONE_API_KEY"]
    assert "PINECONE_API_KEY" in plugin.skip_reason(keyed, cuda=False, original_env={})
    assert plugin.skip_reason(keyed, cuda=False, original_env={"PINECONE_API_KEY": "x"}) is None
    assert plugin.skip_reason(["needs-key"], cuda=True, original_env={"ANY": "x"}) is not None
    assert plugin.skip_reason([], cuda=False, original_env={}) is None


def test_manifest_is_consistent():
    ids = [m.repo_id for m in standins.MODELS]
    assert len(ids) == len(set(ids))
    assert all(m.kind in build.MODEL_KINDS for m in standins.MODELS if m.build)
    assert standins.model(standins.CHAT_STANDIN).kind == "qwen2-chat"
    for dataset in standins.DATASETS:
        assert all(b in build.DATASET_BUILDERS for b in dataset.configs.values())


def test_colab_install_list_never_reinstalls_torch():
    lines = colab_setup.colab_lines()
    assert lines and not any(colab_setup.requirement_name(ln) in {"torch", "torchvision", "torchaudio"}
                             for ln in lines)
    assert any(ln.startswith("transformers") for ln in lines)


def test_course_data_answers_occur_in_contexts():
    rows = build._rows("mrc")
    assert len(rows) >= 60
    for row in rows:
        for start, text in zip(row["answers"]["answer_start"], row["answers"]["text"]):
            assert row["context"][start:start + len(text)] == text, row["guid"]
    labels = {r["label"] for r in build._rows("ynat")}
    assert labels == set(build.YNAT_LABELS)
    scores = [r["labels"]["label"] for r in build._rows("sts")]
    assert min(scores) >= 0 and max(scores) <= 5 and len(scores) >= 100


@pytest.mark.world
def test_stand_ins_load_offline_under_real_ids():
    from datasets import load_dataset
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    ynat = load_dataset("klue/klue", "ynat")
    assert ynat["train"].features["label"].names == build.YNAT_LABELS
    assert set(load_dataset("klue/klue", "mrc")) == {"train", "validation"}
    tok = AutoTokenizer.from_pretrained("klue/roberta-base")
    assert tok.unk_token_id not in tok("한국어 문장은 모르는 낱말 없이 토큰화된다")["input_ids"]
    assert tok.convert_ids_to_tokens(tok("뷁")["input_ids"])[1] != tok.unk_token
    chat = AutoTokenizer.from_pretrained(standins.CHAT_STANDIN)
    rendered = chat.apply_chat_template([{"role": "user", "content": "안녕"}], tokenize=False,
                                        add_generation_prompt=True)
    assert rendered.endswith("<|im_start|>assistant\n")
    assert SentenceTransformer("jhgan/ko-sroberta-multitask", device="cpu").encode(["가", "나"]).shape[0] == 2


@pytest.mark.world
def test_local_openai_server_answers_every_chat_name():
    base = os.environ["OPENAI_BASE_URL"]
    for name in standins.OPENAI_CHAT_MODELS:
        body = json.dumps({"model": name, "max_tokens": 3, "messages": [{"role": "user", "content": "안녕"}]})
        request = urllib.request.Request(f"{base}/chat/completions", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            reply = json.load(response)
        assert reply["choices"][0]["message"]["role"] == "assistant"
