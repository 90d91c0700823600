"""No GPL or AGPL in what ``pip install gacn`` installs.

The runtime dependency closure of gacn (its own extras left out; the extras that gacn's own
requirements name, as ``dask[distributed]``, followed) is walked through the installed
distributions with ``importlib.metadata``, environment markers evaluated by ``packaging``.
Each distribution is judged by everything it declares: its License-Expression (SPDX), its
Trove licence classifiers, and its License field when that is a short name rather than a
licence text. It is refused when any of them leaves no choice but GPL or AGPL:

* LGPL is allowed, and so are "GPL-compatible" licences;
* ``A OR B`` (and "A or B" in free text) is allowed when either side is: the user may pick
  the permissive one; ``A AND B`` needs both;
* several licence classifiers are read as alternatives, as PyPI uses them for dual licences;
* a distribution that declares no licence at all is refused too: it has to be looked at.

Run ``python -m pytest -q -s tests/test_licences.py`` to see the closure with the licences.
"""

from __future__ import annotations

import email.message
import importlib.metadata as md
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

_GPL = re.compile(r"\bA?GPL|\bGNU (Affero )?General Public Licen[cs]e", re.IGNORECASE)
_GPL_COMPATIBLE = re.compile(r"GPL[- ]compatible", re.IGNORECASE)
_TOKENS = re.compile(r"\(|\)|[^\s()]+")
_OPERATORS = {"AND", "OR", "WITH"}


def is_gpl(name: str) -> bool:
    """Whether one licence name (SPDX id, classifier, free text without "or"/"and") is GPL or AGPL.

    >>> [is_gpl(n) for n in ("GPL-3.0-or-later", "AGPL-3.0-only", "LGPL-2.1", "MIT", "GPL-compatible")]
    [True, True, False, False, False]
    """
    return bool(_GPL.search(_GPL_COMPATIBLE.sub("", name)))


def expression_allows_non_gpl(text: str) -> bool:
    """Whether a licence expression leaves a choice without GPL/AGPL: SPDX (``OR``, ``AND``,
    ``WITH``, parentheses) or free text ("GPL or BSD"), operators in any case.

    >>> [expression_allows_non_gpl(e) for e in ("GPL-2.0 OR MIT", "MIT AND GPL-3.0", "(MIT OR GPL-3.0) AND BSD")]
    [True, False, True]
    """
    tokens = _TOKENS.findall(text)
    position = 0

    def peek() -> str | None:
        return tokens[position].upper() if position < len(tokens) else None

    def either() -> bool:  # alternatives: any may be chosen
        nonlocal position
        ok = both()
        while peek() == "OR":
            position += 1
            ok = both() or ok
        return ok

    def both() -> bool:  # conjunction: all apply
        nonlocal position
        ok = leaf()
        while peek() == "AND":
            position += 1
            ok = leaf() and ok
        return ok

    def leaf() -> bool:  # a parenthesised expression, or words up to the next operator
        nonlocal position
        if peek() == "(":
            position += 1
            ok = either()
            position += peek() == ")"
            return ok
        words = []
        while peek() is not None and peek() not in {"AND", "OR", ")"}:
            words.append(tokens[position])
            position += 1
        return not is_gpl(" ".join(words))

    return either()


def licence_of(metadata: md.PackageMetadata) -> tuple[str, str]:
    """(verdict, what was declared) for a distribution: verdict ``ok``, ``GPL`` or ``unknown``."""
    expression = metadata.get("License-Expression")
    classifiers = [c.removeprefix("License :: ") for c in metadata.get_all("Classifier") or []
                   if c.startswith("License :: ") and c != "License :: OSI Approved"]
    field = (metadata.get("License") or "").strip()
    field = field if field and "\n" not in field and len(field) <= 200 else ""  # a name, not a licence text
    declared = [f"{kind}: {value}" for kind, value in (("expression", expression), ("field", field)) if value]
    declared += [f"classifier: {c}" for c in classifiers]
    if not declared:
        return "unknown", "no licence declared"
    verdicts = [expression_allows_non_gpl(v) for v in (expression, field) if v]
    if classifiers:
        verdicts.append(any(not is_gpl(c) for c in classifiers))
    return ("ok" if all(verdicts) else "GPL"), "; ".join(declared)


def runtime_closure(root: str = "gacn") -> dict[str, md.Distribution | None]:
    """The installed distributions that ``root`` needs at run time, by canonical name (None for a
    requirement that is not installed): ``root``'s requirements without its extras, and
    recursively theirs, with the extras that a requirement names (``dask[distributed]``)."""
    found: dict[str, md.Distribution | None] = {}
    done: set[tuple[str, str]] = set()
    todo = [(root, "")]
    while todo:
        name, extra = todo.pop()
        key = canonicalize_name(name)
        if (key, extra) in done:
            continue
        done.add((key, extra))
        try:
            found[key] = md.distribution(name)
        except md.PackageNotFoundError:
            found[key] = None
            continue
        for line in found[key].requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                todo += [(requirement.name, e) for e in ("", *requirement.extras)]
    return found


def test_the_judge_on_sample_licences() -> None:
    gpl = ["GPL-3.0-or-later", "GPL-2.0-only", "AGPL-3.0", "GPLv3", "GNU GPL v2", "MIT AND GPL-3.0-only",
           "GPL-2.0-only WITH Classpath-exception-2.0", "(GPL-2.0 OR AGPL-3.0) AND MIT",
           "OSI Approved :: GNU General Public License v3 (GPLv3)",
           "OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)"]
    fine = ["LGPL-2.1", "LGPL-3.0-or-later", "MIT", "BSD-3-Clause", "Apache-2.0 OR BSD-2-Clause",
            "GPL-2.0-or-later OR BSD-3-Clause", "GPL or BSD", "BSD or GPL", "GPL-compatible", "PSF-2.0",
            "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)",
            "OSI Approved :: GNU Library or Lesser General Public License (LGPL)", "MIT License (MIT)"]
    assert [e for e in gpl if expression_allows_non_gpl(e)] == []
    assert [e for e in fine if not expression_allows_non_gpl(e)] == []


@pytest.mark.parametrize(("fields", "verdict"), [
    ({"License-Expression": "GPL-3.0-or-later"}, "GPL"),
    ({"License-Expression": "LGPL-2.1-or-later"}, "ok"),
    ({"Classifier": ["License :: OSI Approved :: GNU General Public License v3 (GPLv3)"]}, "GPL"),
    ({"Classifier": ["License :: OSI Approved :: GNU General Public License (GPL)",
                     "License :: OSI Approved :: BSD License"]}, "ok"),  # dual-licensed
    ({"License-Expression": "MIT", "Classifier": ["License :: OSI Approved :: GNU General Public License (GPL)"]},
     "GPL"),  # contradicting declarations: refused until someone looks
    ({"License": "GPL-3.0-or-later"}, "GPL"),
    ({"License": "BSD-3-Clause"}, "ok"),
    ({"License": "Copyright (c) someone\nGNU GENERAL PUBLIC LICENSE text..."}, "unknown"),
    ({"Classifier": ["License :: OSI Approved"]}, "unknown"),
])
def test_the_judge_on_sample_metadata(fields: dict, verdict: str) -> None:
    metadata = email.message.Message()  # what importlib.metadata returns, filled by hand
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            metadata[key] = item
    assert licence_of(metadata)[0] == verdict


def test_installed_requirements_are_those_of_pyproject() -> None:
    """The closure below starts from the installed metadata of gacn: it must be current."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    declared = {canonicalize_name(Requirement(r).name) for r in pyproject["project"]["dependencies"]}
    installed = {canonicalize_name(Requirement(r).name) for r in md.requires("gacn") or ()
                 if Requirement(r).marker is None or Requirement(r).marker.evaluate({"extra": ""})}
    assert installed == declared, "the installed gacn is stale: run pip install -e ."


def test_runtime_dependencies_are_not_gpl() -> None:
    closure = runtime_closure()
    rows = []
    for key, dist in sorted(closure.items()):
        verdict, declared = licence_of(dist.metadata) if dist else ("missing", "not installed")
        rows.append((verdict, f"{key} {dist.version if dist else ''}".strip(), declared))
    table = "\n".join(f"{verdict:8} {name:32} {declared}" for verdict, name, declared in rows)
    print(f"\nruntime dependency closure of gacn ({len(rows)} distributions):\n{table}")
    assert {"gacn", "torch", "numpy", "pillow", "tifffile", "tifftools", "distributed"} <= closure.keys()
    assert "exiv2" not in closure
    assert [row for row in rows if row[0] != "ok"] == [], f"GPL, unknown or missing licences:\n{table}"
