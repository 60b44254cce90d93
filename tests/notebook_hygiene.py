"""Static checks of the chapter notebooks (design section 4). `problems(path)` lists what is wrong.

Used by tests/test_hygiene.py on every ch*/ch*.ipynb, and by its negative tests on planted defects.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import nbformat

from tests.world import standins

ROOT = Path(__file__).resolve().parents[1]
SIZE_CAP_BYTES = 300_000
ALLOWED_TAGS = {"gpu", "needs-key", "nbval-check-output"}
CHECKED_OUTPUT_TAG = "nbval-check-output"  # world-independent cells whose committed outputs nbval re-checks

SECRET_PATTERNS = {
    "OpenAI key": re.compile(r"sk-[A-Za-z0-9_-]{20,}"),
    "Hugging Face token": re.compile(r"hf_[A-Za-z0-9]{30,}"),
    "Pinecone key": re.compile(r"pcsk_[A-Za-z0-9_]{20,}"),
}
GPU_ONLY = re.compile(
    r"\.cuda\(|\b(?:import|from)\s+(?:vllm|awq|flash_attn)\b|mamba_ssm|causal_conv1d|gptqmodel|llmcompressor"
    r"|flash_attention_2|device_map\s*=\s*[\"']cuda")
KEY_ONLY = re.compile(
    r"\bPinecone\(|\.push_to_hub\(|\bHfApi\(|\bcreate_repo\(|\bupload_(?:file|folder)\(|\bnotebook_login\("
    r"|huggingface_hub\.login\(|\.images\.generate\(|\.embeddings\.create\(")
HUB_ID = re.compile(r"[\"']([A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*)[\"']")
OPENAI_NAME = re.compile(r"[\"']((?:gpt-|o[1-9]-|o[1-9][\"']|text-embedding-|dall-e-|chatgpt-)[A-Za-z0-9_.-]*)")
FILE_SUFFIX = re.compile(r"\.(?:jpe?g|png|gif|json|jsonl|csv|tsv|txt|db|sql|sqlite3?|md|ipynb|py|parquet|pt|bin|"
                         r"safetensors|log|ya?ml|html|gguf|npy|npz|pkl|toml|arrow)$", re.I)
NOT_HUB_PREFIXES = ("assets/", "outputs/", "data/", "tmp/", "text/", "application/", "image/", "audio/",
                    "v1/", "api/", "chat/", "tests/", "tools/")


def code_without_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in source.splitlines())


def hub_ids_in(source: str) -> set[str]:
    ids = set()
    for candidate in HUB_ID.findall(source):
        if FILE_SUFFIX.search(candidate) or candidate.startswith(NOT_HUB_PREFIXES) or ".." in candidate:
            continue
        if not all(re.search(r"[A-Za-z]", part) for part in candidate.split("/")):
            continue  # "0/0", "1/2": numbers, not ids
        if (ROOT / candidate).exists():
            continue
        ids.add(candidate)
    return ids


def openai_names_in(source: str) -> set[str]:
    return {name.strip("'\"") for name in OPENAI_NAME.findall(source)}


def _names(tree: ast.AST) -> tuple[set[str], set[str]]:
    defined, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    return defined, used


INSTALL_OR_POP = re.compile(r"install_gpu_set\(|^\s*[!%]\s*pip\b|pip\s+install|globals\(\)\.pop\(", re.M)
OWN_SECRET_CODE = re.compile(r"^\s*def get_secret\(|\bgetpass\b|userdata\.get\(", re.M)
CLIENT_WITHOUT_URL = re.compile(r"\b(?:OpenAI|AsyncOpenAI|OpenAIChatCompletionClient|OpenAILLM)\((?![^)]*base_url)")


def expected_guard(tags: list[str]) -> str | None:
    """The guard line a tagged cell must start with (None for an untagged cell)."""
    parts = ["gpu=True"] if "gpu" in tags else []
    keys = [t.split(":", 1)[1] for t in tags if t.startswith("key:")]
    if len(keys) == 1:
        parts.append(f'key="{keys[0]}"')
    elif keys:
        parts.append("keys=(" + ", ".join(f'"{k}"' for k in keys) + ",)")
    return f"if course.requires({', '.join(parts)}):" if parts else None


def first_code_line(source: str) -> str:
    return next((ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")


def tags_of(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def problems(path: Path) -> list[str]:
    path = Path(path)
    found: list[str] = []
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    if not path.name.isascii() or not path.parent.name.isascii():
        found.append("file or folder name is not ASCII")
    if len(raw) > SIZE_CAP_BYTES:
        found.append(f"notebook is {len(raw)} bytes (cap {SIZE_CAP_BYTES})")
    for what, pattern in SECRET_PATTERNS.items():
        if pattern.search(text):
            found.append(f"contains what looks like a secret ({what})")
    nb = nbformat.reads(text, as_version=4)
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as err:
        found.append(f"not a valid notebook: {err.message}")
    for key in ("widgets", "colab"):
        if key in nb.metadata:
            found.append(f"notebook metadata has '{key}'")
    found += _header_problems(nb, path)
    cpu_defined: set[str] = set(dir(builtins)) | {"get_ipython", "display", "__file__"}
    tagged_defined: set[str] = set()
    has_assert = False
    installed_in_tagged: str | None = None
    chat_backend_seen = False
    for index, cell in enumerate(nb.cells):
        where = f"cell {index}"
        if "colab" in cell.metadata or "executionInfo" in cell.metadata:
            found.append(f"{where}: Colab metadata")
        if cell.cell_type != "code":
            continue
        tags = tags_of(cell)
        checked = CHECKED_OUTPUT_TAG in tags
        if not checked and (cell.get("outputs") or cell.get("execution_count") is not None):
            found.append(f"{where}: has outputs or an execution count (strip them)")
        if checked and (not cell.get("outputs") or cell.get("execution_count") is None):
            found.append(f"{where}: tagged {CHECKED_OUTPUT_TAG} but has no committed output to re-check")
        if checked and ({"gpu", "needs-key"} & set(tags)):
            found.append(f"{where}: a gpu/needs-key cell cannot carry checked outputs")
        unknown = [t for t in tags if t not in ALLOWED_TAGS and not t.startswith("key:")]
        if unknown:
            found.append(f"{where}: unknown tags {unknown}")
        if "needs-key" in tags and not any(t.startswith("key:") for t in tags):
            found.append(f"{where}: needs-key cell without a key:ENV_NAME tag")
        source = cell.source
        try:  # a real compile (symbol table included); IPython kernels allow top-level await
            code = code_without_magics(source)
            compile(code, f"{path.name}:{where}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            tree = ast.parse(code)
        except SyntaxError as err:
            found.append(f"{where}: does not compile: {err.msg} (line {err.lineno})")
            continue
        guard = expected_guard(tags)
        if guard is not None and first_code_line(source).strip() != guard:
            found.append(f"{where}: tagged {tags} but does not start with its guard `{guard}`")
        if guard is None and "course.requires(" in source:
            found.append(f"{where}: guards itself with course.requires but has no gpu/needs-key tag")
        if guard is None and installed_in_tagged:
            found.append(f"{where}: follows {installed_in_tagged}, which installs or pops names "
                         "(put such a section last, or in its own runtime)")
        if guard is not None and INSTALL_OR_POP.search(source):
            installed_in_tagged = where
        if "platform.processor(" in source or (guard is None and "get_device_name(" in source):
            found.append(f"{where}: builds its own hardware label: use course.hardware_label()")
        if OWN_SECRET_CODE.search(source):
            found.append(f"{where}: reads secrets itself: use course.get_secret / course.requires")
        if re.search(r"None if QUICK", source):
            found.append(f"{where}: quick mode means 'all rows' (None if QUICK): use an absolute cap")
        chat_backend_seen = chat_backend_seen or "course.chat_backend(" in source
        if guard is None and CLIENT_WITHOUT_URL.search(source) and not chat_backend_seen:
            found.append(f"{where}: an OpenAI client before course.chat_backend(...) (no key -> no local server)")
        if GPU_ONLY.search(source) and "gpu" not in tags:
            found.append(f"{where}: uses a GPU-only API without the gpu tag")
        if KEY_ONLY.search(source) and "needs-key" not in tags:
            found.append(f"{where}: uses a key-only service without the needs-key tag")
        for hub_id in sorted(hub_ids_in(source) - standins.all_hub_ids()):
            found.append(f"{where}: hub id {hub_id!r} is not in tests/world/standins.py")
        for name in sorted(openai_names_in(source) - standins.all_openai_names()):
            found.append(f"{where}: OpenAI model {name!r} is not in tests/world/standins.py")
        has_assert = has_assert or any(isinstance(node, ast.Assert) for node in ast.walk(tree))
        defined, used = _names(tree)
        if "gpu" in tags or "needs-key" in tags:
            tagged_defined |= defined
        else:
            leaking = sorted((used & tagged_defined) - cpu_defined - defined)
            if leaking:
                found.append(f"{where}: uses {leaking} defined only in gpu/needs-key cells (island rule)")
            cpu_defined |= defined
    if not has_assert:
        found.append("no assert anywhere: the 확인 cells are missing")
    if "course.quick_mode(" not in text:
        found.append("no settings cell choosing QUICK with course.quick_mode(...)")
    last = nb.cells[-1] if nb.cells else None
    if last is None or last.cell_type != "markdown" or not last.source.lstrip().startswith("## 정리"):
        found.append("the last cell must be the '## 정리' summary")
    return found


def _header_problems(nb, path: Path) -> list[str]:
    from tools import stamp_notebooks

    if not nb.cells or nb.cells[0].cell_type != "markdown" or not re.match(r"# \d+장(?: 부록)?\. ", nb.cells[0].source):
        return ["first cell must be the Korean header '# N장. 제목'"]
    settings = stamp_notebooks.course_settings()
    badge = stamp_notebooks.badge_line(settings["repo_url"], settings.get("branch", "main"), path)
    found = []
    if badge not in nb.cells[0].source:
        found.append("header has no Colab badge for this notebook's own path and the repo URL")
    boot = nb.cells[1] if len(nb.cells) > 1 else None
    if boot is None or boot.source != stamp_notebooks.bootstrap_source(settings["repo_url"], path.parent.name):
        found.append("cell 1 is not the stamped bootstrap cell (run tools/stamp_notebooks.py)")
    return found
