"""Import contracts (ARCHITECTURE.md "Layers: imports only point down"; issue 11 item 22).

An ast-based stand-in for import-linter: it reads every import of every module under piazza/ (at the top
and inside functions alike) and checks

1. the layering between apps: an app imports only apps of a lower layer (or its own);
2. the direction inside an app: nothing imports a `views` module except URLconfs and tests, and in
   particular no `tasks`, `actions` or `queries` module (nor a module of an `actions`/`queries` package).

Tests are exempt (a test may drive any layer)."""

from __future__ import annotations

import ast
from pathlib import Path

PIAZZA = Path(__file__).resolve().parent.parent / "piazza"

# Lowest first; apps on one line share a layer and must not import each other.
LAYERS: list[set[str]] = [
    {"core"},
    {"territory"},
    {"people", "ledger"},
    {"payments"},
    {"compliance"},
    {"funding", "membership"},
    {"community", "outreach", "transparency", "petitions", "volunteers", "events"},
    # privacy reads every app that holds personal data, community and outreach included (ADR 0016)
    {"privacy"},
    # "vicino a me" and the followers' digest read community, events, petitions and outreach (issue 17)
    {"discovery"},
    {"api", "web"},
]
LAYER_OF = {app: i for i, apps in enumerate(LAYERS) for app in apps}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PIAZZA.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the file, names of `from x import name` included
    as `x.name` (so `from piazza.funding import views` counts as importing piazza.funding.views)."""
    module = _module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                stem = package[: len(package) - node.level + 1]
                base = ".".join(stem + ([node.module] if node.module else []))
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return out


def _sources() -> list[Path]:
    return [
        p
        for p in sorted(PIAZZA.rglob("*.py"))
        if "tests" not in p.parts
        and "migrations" not in p.parts
        and not p.name.startswith("test_")
        and not p.name.startswith("testing")
    ]


def layer_violations() -> list[str]:
    problems = []
    for path in _sources():
        me = _module_name(path).split(".")
        if len(me) < 2 or me[1] not in LAYER_OF:
            continue
        for line, target in _imports(path):
            parts = target.split(".")
            if parts[0] != "piazza" or len(parts) < 2 or parts[1] not in LAYER_OF or parts[1] == me[1]:
                continue
            if LAYER_OF[parts[1]] >= LAYER_OF[me[1]]:
                problems.append(f"{path.relative_to(PIAZZA.parent)}:{line}: {me[1]} imports {target}")
    return problems


def _is_view_module(name: str) -> bool:
    return name.split(".")[-1] == "views" or ".views." in name


def _must_not_import_views(module: str) -> bool:
    parts = module.split(".")
    return bool({"tasks", "actions", "queries"} & set(parts[2:]))


def views_violations() -> list[str]:
    problems = []
    for path in _sources():
        module = _module_name(path)
        if not _must_not_import_views(module):
            continue
        for line, target in _imports(path):
            if target.startswith("piazza.") and _is_view_module(target):
                problems.append(f"{path.relative_to(PIAZZA.parent)}:{line}: {module} imports {target}")
    return problems


def test_apps_import_only_lower_layers():
    assert layer_violations() == []


def test_tasks_actions_and_queries_never_import_views():
    assert views_violations() == []


def test_the_contract_sees_a_violation(tmp_path, monkeypatch):
    """The checker itself: a task importing views and a lower app importing a higher one are caught."""
    fake = tmp_path / "piazza"
    (fake / "people").mkdir(parents=True)
    (fake / "funding").mkdir()
    (fake / "people" / "tasks.py").write_text(
        "def f():\n    from piazza.funding.actions import x\n    from . import views\n"
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["PIAZZA"]), "PIAZZA", fake)
    assert layer_violations() == [
        "piazza/people/tasks.py:2: people imports piazza.funding.actions",
        "piazza/people/tasks.py:2: people imports piazza.funding.actions.x",
    ]
    assert views_violations() == ["piazza/people/tasks.py:3: piazza.people.tasks imports piazza.people.views"]
