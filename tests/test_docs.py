"""The documentation test: every public name documented, every example run.

1. Every name in ``__all__`` of sk_spotting and of its public subpackages has
   a numpydoc docstring with an Examples section (the examples themselves run
   as doctests with ``--doctest-modules``) and a line in ``docs/api.md``.
2. The ```` ```python ```` blocks of each page of ``docs/`` and of the README
   run in order, in one namespace per page, in a temporary folder; the
   ``$ sk-spotting ...`` lines of ```` ```console ```` blocks run through
   :func:`sk_spotting.cli.main` and must succeed.  Blocks whose info string
   holds ``notest`` (real SoccerNet data, a GPU) are skipped.
3. Relative links and images of the pages point to files and headings that
   exist.
"""

import importlib
import inspect
import re
import shlex
from pathlib import Path

import pytest

from sk_spotting.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
PACKAGES = [
    "sk_spotting",
    "sk_spotting.data",
    "sk_spotting.targets",
    "sk_spotting.nn",
    "sk_spotting.training",
    "sk_spotting.postprocessing",
    "sk_spotting.metrics",
    "sk_spotting.datasets",
    "sk_spotting.plotting",
    "sk_spotting.preprocessing",
    "sk_spotting.model_selection",
    "sk_spotting.ensemble",
    "sk_spotting.cli",
]


def _public_names():
    names = []
    for package in PACKAGES:
        try:
            module = importlib.import_module(package)
        except ModuleNotFoundError:  # only the subpackages that exist
            continue
        names += [(package, name) for name in module.__all__]
    return names


PUBLIC_NAMES = _public_names()
# Classes, functions and callable objects (the scorers) carry docstrings;
# constants (tuples, dicts) do not.
DOCUMENTED_NAMES = [
    (package, name)
    for package, name in PUBLIC_NAMES
    if inspect.isclass(obj := getattr(importlib.import_module(package), name))
    or inspect.isroutine(obj)
    or callable(obj)
]


def _qualified(package, name):
    return f"{package}.{name}"


@pytest.mark.parametrize(
    "package, name",
    DOCUMENTED_NAMES,
    ids=[_qualified(p, n) for p, n in DOCUMENTED_NAMES],
)
def test_public_name_has_a_numpydoc_docstring_with_examples(package, name):
    obj = getattr(importlib.import_module(package), name)
    doc = inspect.getdoc(obj)
    assert doc, f"{package}.{name} has no docstring"
    summary = doc.split("\n\n")[0]
    assert summary.rstrip().endswith("."), f"summary line: {summary!r}"
    match = re.search(
        r"^Examples\n-{8,}\n(.*?)(?=^\w[^\n]*\n-{3,}\n|\Z)", doc, re.M | re.S
    )
    assert match, f"{package}.{name} has no Examples section"
    assert ">>> " in match.group(1), f"{package}.{name}: Examples without doctest"


def test_every_public_name_is_in_the_api_page():
    # a table row of its own: the site makes one reference page per row
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(sk_spotting[\w.]*)` \|", api, re.M))
    names = [_qualified(p, n) for p, n in PUBLIC_NAMES]
    missing = [name for name in names if name not in rows]
    assert not missing, f"add a row to a table of docs/api.md: {missing}"


def test_every_page_is_in_the_front_page_table():
    # the site's navigation follows the "Pages" table of index.md (docs/conf.py)
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"^\| \[[^\]]+\]\(([\w\-]+)\.md\) \|", index, re.M))
    missing = [p.name for p in DOCS.glob("*.md") if p.stem not in linked | {"index"}]
    assert not missing, f"add to the Pages table of docs/index.md: {missing}"


_FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)


def _blocks(page):
    """(language, info, code) of every fenced block of a page."""
    text = page.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2), m.group(3)) for m in _FENCE.finditer(text)]


def _commands(code):
    """The ``$ sk-spotting ...`` lines of a console block, as argv lists."""
    for line in code.splitlines():
        if line.startswith("$ sk-spotting "):
            yield shlex.split(line[2:])[1:]


@pytest.mark.filterwarnings(
    # torch warns when the chunk sampler copies read-only memory maps
    "ignore:The given NumPy array is not writable:UserWarning"
)
def _runnable(page):
    return any(
        "notest" not in info.split() and (language == "python" or any(_commands(code)))
        for language, info, code in _blocks(page)
    )


RUNNABLE_PAGES = [page for page in PAGES if _runnable(page)]


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=[p.name for p in RUNNABLE_PAGES])
def test_examples_of_the_page_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{page.stem}"}
    n_run = 0
    for n, (language, info, code) in enumerate(_blocks(page)):
        if "notest" in info.split():
            continue
        if language == "python":
            try:
                exec(compile(code, f"{page.name} block {n}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(
                    f"{page.name}, python block {n} failed with {exc!r}. A block "
                    f"that cannot run on small synthetic data (real SoccerNet "
                    f"features, a GPU, a database) is marked ```python notest."
                ) from exc
            n_run += 1
        elif language == "console":
            for argv in _commands(code):
                assert main(argv) == 0, f"{page.name}: sk-spotting {shlex.join(argv)}"
                n_run += 1
    assert n_run > 0


def _slug(heading):
    """GitHub's anchor of a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page):
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page):
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def _headings(page):
    """The level-2 headings of a page."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return set(re.findall(r"^## (.+)$", text, re.M))


def test_docstring_pointers_name_pages_and_sections_that_exist():
    # "docs/method.md, Networks" in the code: the page and its "## Networks"
    pointer = re.compile(r"docs/(\w+)\.md(?:, ([A-Z][\w \-]*\w))?")
    broken = []
    for path in sorted((ROOT / "sk_spotting").rglob("*.py")):
        for page, section in pointer.findall(path.read_text(encoding="utf-8")):
            file = DOCS / f"{page}.md"
            if not file.exists() or section and section not in _headings(file):
                where = path.relative_to(ROOT)
                broken.append(f"{where}: docs/{page}.md, {section}".rstrip(", "))
    assert not broken, f"pointers to missing pages or sections: {broken}"
