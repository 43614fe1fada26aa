"""Comments say why in a few lines: no block of comment lines in bench/ or methods/ runs past six. Measurements and
their history belong in docs/ and reports/, which a comment may link."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MOST_LINES = 6


def comment_blocks(source: str) -> list[tuple[int, int]]:
    """(first line, line count) of each run of consecutive lines that hold only a comment."""
    lines = sorted(
        tok.start[0]
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT and tok.line.strip().startswith("#")
    )
    blocks: list[tuple[int, int]] = []
    for line in lines:
        if blocks and blocks[-1][0] + blocks[-1][1] == line:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + 1)
        else:
            blocks.append((line, 1))
    return blocks


def test_comment_blocks_finds_runs_of_comment_lines():
    source = "x = 1  # trailing\n# a\n# b\n\n# c\ny = 2\n"
    assert comment_blocks(source) == [(2, 2), (5, 1)]


def test_no_comment_block_is_longer_than_six_lines():
    long = [
        f"{path.relative_to(ROOT)}:{first} ({count} lines)"
        for package in ("bench", "methods")
        for path in sorted((ROOT / package).rglob("*.py"))
        for first, count in comment_blocks(path.read_text())
        if count > MOST_LINES
    ]
    assert not long, "comment blocks over six lines (move measurements to docs/ or reports/):\n" + "\n".join(long)
