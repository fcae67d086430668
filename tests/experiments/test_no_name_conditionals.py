"""Model, dataset, experiment and figure facts live in conf/, never in Python conditionals.

Adding a model must be a YAML card, not edits in three Python files: so no code under
staticdyn/ may test a value against a name from conf/ (``if name == "fig3"``,
``"slowfast" in model.lower()``, a regex of model names, ``x.startswith("slow")``) or keep a
table keyed by model names. A name that is also a card *value* (``family: timesformer``,
``family: custom``) is a fact vocabulary, not a name, and is allowed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FACT_KEYS = ("family", "checkpoint_format", "task", "arch_group", "pathway_kind")
REGEX_CALLS = ("compile", "search", "match", "fullmatch", "findall", "sub")


def _cards() -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text()) or {}
            for p in sorted((ROOT / "conf" / "model").glob("*.yaml"))}


def _figure_names() -> set[str]:
    names = set()
    for path in (ROOT / "conf" / "experiment").glob("*.yaml"):
        node = (yaml.safe_load(path.read_text()) or {}).get("experiment") or {}
        names |= {str(f) for f in node.get("figures") or ()}
    return names


CARDS = _cards()
FACTS = {str(c[k]) for c in CARDS.values() for k in FACT_KEYS if c.get(k) is not None}
MODELS = (set(CARDS) | {str(c["name"]) for c in CARDS.values() if c.get("name")}) - FACTS
NAMES = (MODELS
         | {p.stem for p in (ROOT / "conf" / "experiment").rglob("*.yaml")}
         | {p.stem for p in (ROOT / "conf" / "dataset").glob("*.yaml")}
         | _figure_names()) - FACTS
# Words a regex of model names would hold: whole names and their first token ("slowfast",
# "mvit", "timesformer", "slow", "fast" ...).
MODEL_WORDS = MODELS | {m.split("_")[0] for m in MODELS if len(m.split("_")[0]) >= 4}


def _strings(node: ast.AST) -> Iterator[str]:
    """String constants of a node, looking into tuple/list/set literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for elt in node.elts:
            yield from _strings(elt)


def _compare(node: ast.Compare) -> list[str]:
    found = [s for side in (node.left, *node.comparators) for s in _strings(side) if s in NAMES]
    if any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
        literal = ast.Tuple | ast.List | ast.Set | ast.Dict
        if not isinstance(node.comparators[0], literal):  # "slowfast" in model.lower()
            found += [s for s in _strings(node.left)
                      if len(s) >= 4 and any(s in m for m in MODELS)]
    return found


def _call(node: ast.Call) -> list[str]:
    if not isinstance(node.func, ast.Attribute) or not node.args:
        return []
    attr = node.func.attr
    strings = list(_strings(node.args[0]))
    if attr == "startswith":
        return [s for s in strings if any(m.startswith(s) for m in MODELS)]
    if attr == "endswith":
        return [s for s in strings if any(m.endswith(s) for m in MODELS)]
    if attr in REGEX_CALLS:
        words = {w for s in strings for w in re.findall(r"[a-z][a-z0-9_]{2,}", s.lower())}
        return sorted(words & MODEL_WORDS)
    return []


def name_conditionals(source: str) -> list[tuple[int, str]]:
    """(line, name) of every place ``source`` tests a value against a name from conf/."""
    found = []
    for node in ast.walk(ast.parse(source)):
        hits: list[str] = []
        if isinstance(node, ast.Compare):
            hits = _compare(node)
        elif isinstance(node, ast.Call):
            hits = _call(node)
        elif isinstance(node, ast.MatchValue):
            hits = [s for s in _strings(node.value) if s in NAMES]
        elif isinstance(node, ast.Dict):  # a table keyed by model names
            hits = [s for k in node.keys if k is not None for s in _strings(k) if s in MODELS]
        found += [(node.lineno, h) for h in hits]
    return found


@pytest.mark.parametrize("snippet", [
    'if name == "fig3":\n    pass',
    'ok = cfg.model.name in ("slow_r50", "fast_r50")',
    'is_sf = "slowfast" in model.lower()',
    'T = re.compile(r"mvit|videomae|swin", re.I)',
    'if model.startswith("slow"):\n    pass',
    'TINY = {"slow_r50": ["++model.builder_kwargs.stem_dim_out=8"]}',
    'match experiment:\n    case "table1_fig7":\n        pass',
    'if ds != "davis16":\n    pass',
])
def test_the_check_finds_each_form(snippet: str) -> None:
    assert name_conditionals(snippet), snippet


def test_the_check_allows_fact_values_and_yaml_keys() -> None:
    clean = ('if card["family"] == "timesformer":\n    pass\n'
             'if cfg.get("arch_group") == "Transformer":\n    pass\n'
             'layers = [x for x in names if x.startswith("fusion.")]\n'
             'if arm == "static":\n    pass\n')
    assert name_conditionals(clean) == []


def test_no_name_conditionals_in_the_package() -> None:
    found = [f"{path.relative_to(ROOT)}:{line}: {name!r}"
             for path in sorted((ROOT / "staticdyn").rglob("*.py"))
             for line, name in name_conditionals(path.read_text())]
    assert not found, ("names from conf/ tested in Python (put the fact in the model card or "
                       "experiment YAML instead):\n" + "\n".join(found))
