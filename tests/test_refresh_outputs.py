"""tools/refresh_outputs.py: keeps outputs of nbval-check-output cells only, as Jupyter shows them."""

from __future__ import annotations

import nbformat

from tools.refresh_outputs import TAG, coalesced, refresh


def stream(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_coalesced_merges_consecutive_pieces_of_one_stream_only():
    merged = coalesced([stream("a\n"), stream("b\n"), stream("w\n", "stderr"), stream("c\n")])
    assert [(o.name, o.text) for o in merged] == [("stdout", "a\nb\n"), ("stderr", "w\n"), ("stdout", "c\n")]


def test_refresh_keeps_tagged_outputs_and_strips_the_rest(tmp_path):
    nb = nbformat.v4.new_notebook()
    untagged = nbformat.v4.new_code_cell("x = 6 * 7\nprint('지워질 출력')")
    untagged.outputs, untagged.execution_count = [stream("old\n")], 5
    tagged = nbformat.v4.new_code_cell("print('답:', x)\nprint('끝')", metadata={"tags": [TAG]})
    nb.cells = [nbformat.v4.new_markdown_cell("# 시험"), untagged, tagged]
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)

    assert refresh(path, timeout=60) == 1
    after = nbformat.read(path, as_version=4)
    assert after.cells[1].outputs == [] and after.cells[1].execution_count is None
    assert after.cells[2].execution_count == 2  # counted as a learner's "Run all" counts
    assert [(o.name, o.text) for o in after.cells[2].outputs] == [("stdout", "답: 42\n끝\n")]
