"""The chunking code of ch09's notebook (9.1.1): articles split from the constitution, one node per article.

The definitions are loaded from the notebook itself (tests/notebook_defs.py), so these tests check the code
learners read. They need no model: the text is a fixed string or the course's own corpus.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebook_defs import load_definitions

CHAPTER = Path(__file__).resolve().parents[1] / "ch09_rag"
NOTEBOOK = CHAPTER / "ch09.ipynb"
CORPUS = CHAPTER.parent / "assets" / "corpus" / "constitution.txt"

SAMPLE = """대한민국헌법

유구한 역사와 전통에 빛나는 우리 대한국민은

       제1장 총강
  제1조 ① 대한민국은 민주공화국이다.
②대한민국의 주권은 국민에게 있다.
  제2조 ① 대한민국의 국민이 되는 요건은 법률로 정한다.
       제2장 국민의 권리와 의무
  제10조 모든 국민은 인간으로서의 존엄과 가치를 가진다.
 펼침  부칙 <헌법 제10호, 1987.10.29.>  부칙보기
  제1조 이 헌법은 1988년 2월 25일부터 시행한다.
"""


@pytest.fixture(scope="module")
def split_articles():
    return load_definitions(NOTEBOOK, {"ARTICLE_RE", "CHAPTER_RE", "split_articles"}, {"re"})[
        "split_articles"]


def test_split_articles_on_a_fixed_text(split_articles):
    articles = split_articles(SAMPLE)
    assert [(a["part"], a["number"], a["article"]) for a in articles] == [
        ("main", 1, "제1조"), ("main", 2, "제2조"), ("main", 10, "제10조"), ("addenda", 1, "제1조")]
    assert [a["chapter"] for a in articles] == ["제1장 총강", "제1장 총강", "제2장 국민의 권리와 의무", "부칙"]
    assert articles[0]["text"] == "제1조 ① 대한민국은 민주공화국이다.\n②대한민국의 주권은 국민에게 있다."
    assert set(articles[0]) == {"part", "chapter", "number", "article", "text"}


def test_split_articles_on_the_course_corpus(split_articles):
    articles = split_articles(CORPUS.read_text(encoding="utf-8"))
    main = [a["number"] for a in articles if a["part"] == "main"]
    addenda = [a["number"] for a in articles if a["part"] == "addenda"]
    assert main == list(range(1, 131)) and addenda == list(range(1, 7))
    assert all(a["text"].startswith(a["article"]) for a in articles)


def test_article_node_ids_are_fixed_and_hashes_follow_the_content(split_articles):
    defs = load_definitions(NOTEBOOK, {"article_node"}, {"hashlib", "llama_index"})
    article_node = defs["article_node"]
    articles = split_articles(SAMPLE)
    node = article_node(articles[2])
    assert node.node_id == "constitution-main-010"
    assert article_node(articles[3]).node_id == "constitution-addenda-001"
    assert article_node(articles[3]).metadata["article"] == "부칙 제1조"
    assert article_node(dict(articles[2])).metadata == node.metadata  # same content, same hash
    changed = article_node({**articles[2], "text": articles[2]["text"] + " (개정)"})
    assert changed.node_id == node.node_id
    assert changed.metadata["content_hash"] != node.metadata["content_hash"]
    embedded = node.get_content(metadata_mode="embed")
    assert "content_hash" not in embedded and "대한민국헌법" not in embedded and "제2장" in embedded
