"""Data flows one way: no module imports a later stage, and no modules import each other.

The stages run ``data -> encode -> geometry -> probes -> analyses -> report``; a
module may import its own stage and earlier ones. ``study`` and ``cli``
orchestrate and may import every stage, but nothing imports them except
``cli`` (and ``study`` itself). ``ftprobe.errors`` and the package root are
below everything. Every import counts for both rules, also one inside a
function (a lazy import hides a circle from Python, not from a reader); one
under ``TYPE_CHECKING`` counts for the direction, but not as a circle, since it
never runs: it names a type for the reader, as two classes that refer to each
other must.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ftprobe

PACKAGE = Path(ftprobe.__file__).resolve().parent
STAGES = ("data", "encode", "geometry", "probes", "analyses", "report")
ORCHESTRATORS = ("study", "cli")


def _module_name(path: Path) -> str:
    parts = ("ftprobe", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_only(tree: ast.AST) -> set[int]:
    """The ids of the import statements under ``if TYPE_CHECKING:``."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.body:
                ids.update(id(n) for n in ast.walk(statement))
    return ids


def _imports(modules: dict[str, Path], *, typing: bool = True) -> dict[str, set[str]]:
    """Each module's ftprobe imports, as module names (``from pkg import mod`` is ``pkg.mod``).

    With ``typing=False``, imports under ``if TYPE_CHECKING:`` are left out.
    """
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        skip = set() if typing else _type_only(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in modules else base)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _stage(module: str) -> str:
    if module == "ftprobe.__main__":  # `python -m ftprobe`: the command line
        return "cli"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES + ORCHESTRATORS else ""


def _upward(source: str, target: str) -> bool:
    here, there = _stage(source), _stage(target)
    if there in ORCHESTRATORS:
        return here != "cli" and here != there
    if there in STAGES:
        if here in ORCHESTRATORS:
            return False
        return here not in STAGES or STAGES.index(there) > STAGES.index(here)
    return False  # the package root, errors.py: below every stage


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per group of modules that reach each other (Tarjan's strongly connected parts)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # A package's __init__ importing its own modules is how a package offers
    # them; it is no circle when one of those modules imports a sibling.
    return {
        source: {t for t in targets if not t.startswith(source + ".")}
        for source, targets in graph.items()
    }


def test_no_module_imports_a_later_stage_or_an_orchestrator() -> None:
    graph = _imports(_modules())
    upward = {(s, t) for s, targets in graph.items() for t in targets if _upward(s, t)}
    assert sorted(upward) == []


def test_no_two_modules_import_each_other() -> None:
    assert _cycles(_package_edges(_imports(_modules(), typing=False))) == []


def test_no_two_stages_import_each_other() -> None:
    # Seen stage by stage: a circle between stages can run through modules that
    # import each other only by way of others (study once imported analyses/cka
    # while the analyses read the study folder through study/).
    stages: dict[str, set[str]] = {}
    for source, targets in _imports(_modules(), typing=False).items():
        here = _stage(source) or "ftprobe"
        stages.setdefault(here, set()).update(
            _stage(t) or "ftprobe" for t in targets if (_stage(t) or "ftprobe") != here
        )
    for targets in stages.values():
        for target in targets:
            stages.setdefault(target, set())
    assert _cycles(stages) == []


def test_the_checks_see_what_they_guard() -> None:
    # The walk finds imports inside functions, and the rules and the circle
    # search flag what they should: a test of the test.
    graph = _imports(_modules())
    assert "ftprobe.study.ray_executor" in graph["ftprobe.study.executors"]  # a lazy import
    assert "ftprobe.geometry.cka" in graph["ftprobe.study.tables"]
    typed = "ftprobe.analyses.paper"  # result.py names PaperComparison for its type only
    assert typed in graph["ftprobe.analyses.result"]
    assert typed not in _imports(_modules(), typing=False)["ftprobe.analyses.result"]
    assert _upward("ftprobe.data.task", "ftprobe.encode.store")
    assert _upward("ftprobe.report.html", "ftprobe.study.spec")
    assert _upward("ftprobe.errors", "ftprobe.data.task")
    assert not _upward("ftprobe.cli.embed", "ftprobe.study.plan")
    assert not _upward("ftprobe.study.tables", "ftprobe.analyses.result")
    assert not _upward("ftprobe.report.html", "ftprobe.analyses.result")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
