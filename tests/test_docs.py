"""The docs: README.md, BENCHMARKS.md and docs/**/*.md link only to files and headings that exist, and the two
front pages stay short. Standard library only, no TensorFlow: this runs in well under a second."""

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "BENCHMARKS.md", *(ROOT / "docs").rglob("*.md")])
MAX_LINES = {"README.md": 250, "BENCHMARKS.md": 300}

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)  # fenced code blocks: their text is not markdown
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")  # [text](target "title")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The markdown outside code blocks and code spans, where a link is a link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text without markup, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading counts by its text
    text = text.replace("`", "").lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor the page's headings produce; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:: not checked here
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / unquote(path)).resolve() if path else page
        if not linked.exists():
            problems.append(f"{page.relative_to(root)}: {target}: no file {path}")
        elif anchor and linked.suffix == ".md" and unquote(anchor).lower() not in anchors(linked):
            problems.append(f"{page.relative_to(root)}: {target}: no heading of {linked.name} gives #{anchor}")
    return problems


def test_the_slugs_are_githubs():
    assert slug("Issue 21: IMDB above 0.92 from scratch") == "issue-21-imdb-above-092-from-scratch"
    assert slug("`--remat`: memory and time (acceptance 3)") == "--remat-memory-and-time-acceptance-3"
    assert slug("SST-2, MiniLM (dev 0.9033 ± 0.0043)") == "sst-2-minilm-dev-09033--00043"
    assert slug("A builder's own settings: [`--model-arg`](x.md)") == "a-builders-own-settings---model-arg"


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Some title\n\n## Twice\n\n## Twice\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[a](other.md#some-title) [b](other.md#twice-1) [c](other.md#nothing) [d](missing.md)\n"
                    "`[e](missing.md)` [f](https://example.com)\n```\n[g](missing.md)\n```\n", encoding="utf-8")
    assert broken_links(page, tmp_path) == ["page.md: other.md#nothing: no heading of other.md gives #nothing",
                                  "page.md: missing.md: no file missing.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


@pytest.mark.parametrize(("name", "limit"), MAX_LINES.items())
def test_the_front_pages_stay_short(name, limit):
    lines = (ROOT / name).read_text(encoding="utf-8").count("\n")
    assert lines <= limit, f"{name} has {lines} lines, over {limit}: move detail into docs/"
