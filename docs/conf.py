"""Sphinx configuration of the sk_spotting site (`make docs`).

The pages are the Markdown files of this folder, read as they are by
myst-parser, so that they stay readable on a code forge and testable by
``tests/test_docs.py``.  Three things are added at build time only:

- the navigation (a hidden toctree) of the front page, in the order of the
  links of its "Pages" table, followed by the gallery of examples;
- one reference page per public name listed in ``api.md`` (autodoc and
  numpydoc, every parameter), written to ``generated/``; every ``sk_spotting.*``
  name in backquotes on any page links to its reference page;
- the gallery: ``examples/plot_*.py`` run at build time (sphinx-gallery), with
  their figures, in ``auto_examples/``.

Build with ``make docs`` (warnings, broken references included, are errors).
"""

import dataclasses
import importlib
import inspect
import os
import re
import sys
from pathlib import Path

from docutils import nodes
from sphinx import addnodes

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

import sk_spotting  # noqa: E402

project = "sk_spotting"
author = "sk_spotting developers"
copyright = "sk_spotting developers"
release = version = sk_spotting.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosectionlabel",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "**.ipynb_checkpoints"]

# --- MyST: GitHub-style heading anchors, so that `page.md#heading` links work.
myst_heading_anchors = 3

# --- Section labels: `method:Networks` names a section for :ref: (docstrings).
autosectionlabel_prefix_document = True
autosectionlabel_maxdepth = 2

# --- API reference: autodoc renders, numpydoc parses and checks every parameter.
autodoc_typehints = "none"
autodoc_member_order = "bysource"
# Methods without a docstring of their own (overrides of skorch, torch or
# scikit-learn methods) are left out rather than shown with a foreign one.
autodoc_inherit_docstrings = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = {
    "PR01",  # a parameter of the signature is not documented
    "PR02",  # a documented parameter is not in the signature
}
# numpydoc_validation_exclude, set below: result types (named tuples and data
# classes) document their fields as Attributes; users read them, not build them.

# No intersphinx (the build machine reaches no documentation site): references
# to other projects' objects stay plain text instead of failing.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(torch|numpy|np|pandas|pd|sklearn|skorch|optuna|matplotlib|"
        r"joblib|scipy|tqdm|collections|typing|os|pathlib)(\..*)?",
    ),
    (r"py:.*", r"(str|int|float|bool|dict|list|tuple|object|callable|None)"),
]

# --- Gallery: every examples/plot_*.py runs at build time.
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("sk_spotting",),
    "reference_url": {"sk_spotting": None},
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
}

html_theme = "alabaster"
html_title = f"sk_spotting {release}"
html_theme_options = {
    "description": "Temporally precise action spotting, the scikit-learn way",
    "sidebar_collapse": True,
    "fixed_sidebar": False,
    "show_relbars": True,
}


# --------------------------------------------------------------------------
# The API reference: one page per name of api.md.

_API_ROW = re.compile(r"^\| `(sk_spotting[\w.]*)` \|", re.M)
# Members inherited from these classes are documented by their own projects.
_FOREIGN_BASES = "BaseEstimator, object, tuple, Module, NeuralNet, Callback, Optimizer"


def _public_names():
    """Every public name, in the order of the API page."""
    return _API_ROW.findall((DOCS / "api.md").read_text(encoding="utf-8"))


def _object(name):
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def _canonical_names():
    """Each public name -> the first public name of the same object.

    An object exported by two packages (``sk_spotting.X`` and
    ``sk_spotting.data.X``) is described once; its other names are aliases.
    """
    first, canonical = {}, {}
    for name in _public_names():
        obj = _object(name)
        key = id(obj) if inspect.isclass(obj) or inspect.isroutine(obj) else name
        canonical[name] = first.setdefault(key, name)
    return canonical


def _is_result_type(obj):
    return inspect.isclass(obj) and (
        dataclasses.is_dataclass(obj) or issubclass(obj, tuple)
    )


numpydoc_validation_exclude = {
    rf"^{re.escape(name)}$"
    for name in _public_names()
    if _is_result_type(_object(name))
}


def _reference_page(name):
    module, _, attribute = name.rpartition(".")
    obj = _object(name)
    lines = [name, "=" * len(name), "", f".. currentmodule:: {module}", ""]
    canonical = _canonical_names()[name]
    if canonical != name:  # described once, on the first name's page
        summary = (inspect.getdoc(obj) or "").split("\n\n")[0]
        lines += [f"The same object as :py:obj:`{canonical}`: {summary}"]
    elif inspect.isclass(obj):
        lines += [
            f".. autoclass:: {attribute}",
            "   :members:",
            f"   :inherited-members: {_FOREIGN_BASES}",
        ]
    elif inspect.isroutine(obj):
        lines += [f".. autofunction:: {attribute}"]
    else:
        lines += [f".. autodata:: {attribute}"]
    return "\n".join(lines) + "\n"


def _write_reference_pages(app):
    folder = DOCS / "generated"
    folder.mkdir(exist_ok=True)
    names = _public_names()
    for name in names:
        page = folder / f"{name}.rst"
        text = _reference_page(name)
        if not page.exists() or page.read_text(encoding="utf-8") != text:
            page.write_text(text, encoding="utf-8")
    for page in folder.glob("*.rst"):  # names that left the API
        if page.stem not in names:
            page.unlink()


# --------------------------------------------------------------------------
# The navigation: the front page's "Pages" table, then the gallery.

_PAGE_LINK = re.compile(r"^\| \[[^\]]+\]\(([\w\-/]+)\.md\) \|", re.M)


def _toctree(entries):
    """A hidden MyST toctree: the sidebar's navigation, not shown on the page."""
    return (
        "\n\n```{toctree}\n:hidden:\n:maxdepth: 2\n\n" + "\n".join(entries) + "\n```\n"
    )


def _add_navigation(app, docname, source):
    if docname == "index":
        pages = _PAGE_LINK.findall(source[0])
        source[0] += _toctree(pages + ["auto_examples/index"])
    elif docname == "api":
        source[0] += _toctree([f"generated/{name}" for name in _public_names()])


# --------------------------------------------------------------------------
# Links: `sk_spotting.name` in backquotes on a page -> its reference page;
# "docs/<page>.md, <Section>" in a docstring -> that page and section.


def _link_public_names(app, doctree):
    canonical = _canonical_names()
    for literal in list(doctree.findall(nodes.literal)):
        text = literal.astext()
        if text not in canonical or isinstance(literal.parent, nodes.reference):
            continue
        if isinstance(literal.parent, addnodes.pending_xref):
            continue
        xref = addnodes.pending_xref(
            "",
            refdomain="py",
            reftype="obj",
            reftarget=canonical[text],
            refexplicit=True,
            refwarn=True,
            refdoc=app.env.docname,
        )
        xref += nodes.literal(text, text, classes=["xref", "py", "py-obj"])
        literal.replace_self(xref)


def _link_examples(app, doctree):
    """A link to ``examples/plot_x.py`` goes to the example's gallery page."""
    for download in list(doctree.findall(addnodes.download_reference)):
        match = re.fullmatch(r"(?:\./)?examples/(plot_\w+)\.py", download["reftarget"])
        if match:
            xref = addnodes.pending_xref(
                "",
                refdomain="std",
                reftype="doc",
                reftarget=f"/auto_examples/{match.group(1)}",
                refexplicit=True,
                refwarn=True,
                refdoc=app.env.docname,
            )
            xref += download.children
            download.replace_self(xref)


def _sections(page):
    """Level-2 headings of a Markdown page."""
    path = DOCS / f"{page}.md"
    if not path.exists():
        return set()
    return set(re.findall(r"^## (.+)$", path.read_text(encoding="utf-8"), re.M))


_PAGE_POINTER = re.compile(r"(?<![`/\w])docs/(\w+)\.md(?:, ([A-Z][\w \-]*[\w]))?")


def _link_page_pointers(app, what, name, obj, options, lines):
    def replace(match):
        page, words = match.group(1), (match.group(2) or "").split()
        for n in range(len(words), 0, -1):  # the longest heading the words start with
            section = " ".join(words[:n])
            if section in _sections(page):
                rest = " ".join(words[n:])
                return f":ref:`docs/{page}.md, {section} <{page}:{section}>`" + (
                    f" {rest}" if rest else ""
                )
        tail = match.group(0)[len(f"docs/{page}.md") :]
        return f":doc:`docs/{page}.md </{page}>`{tail}"

    lines[:] = [_PAGE_POINTER.sub(replace, line) for line in lines]


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's metadata-routing methods, generated on every estimator
    if re.fullmatch(r"set_\w+_request|get_metadata_routing", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("builder-inited", _write_reference_pages)
    app.connect("source-read", _add_navigation)
    app.connect("doctree-read", _link_public_names)
    app.connect("doctree-read", _link_examples)
    app.connect("autodoc-process-docstring", _link_page_pointers)
    os.environ.setdefault("MPLBACKEND", "Agg")
