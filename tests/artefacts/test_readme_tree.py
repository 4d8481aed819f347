"""The README's Development tree names every module of exporter/ where it is, and nothing
that is not there: the tree drifts the moment a module moves, so it is checked."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Packages the tree describes as a whole rather than module by module.
WHOLE = {"demo"}


def tree_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Development\n", 1)[1]
    return section.split("```\n", 2)[1].splitlines()


def named_modules() -> tuple[dict[str, set[str]], set[str]]:
    """{package ('' for exporter/ itself): modules named} and the top-level folders named."""
    modules: dict[str, set[str]] = {}
    tops: set[str] = set()
    package: str | None = None
    for line in tree_block():
        top = re.match(r"^([\w.-]+)/", line)
        sub = re.match(r"^  (\w+)/", line)
        if top:
            tops.add(top.group(1))
            package = "" if top.group(1) == "exporter" else None
            rest = line[top.end() :]
        elif sub and package is not None:
            package = sub.group(1)
            rest = line[sub.end() :]
        elif re.match(r"^  \S", line) and package is not None and package != "":
            package = ""  # back at exporter/'s own modules
            rest = line
        else:
            rest = line
        if package is None:
            continue
        modules.setdefault(package, set()).update(re.findall(r"\b(\w+)\.py\b", rest))
    return modules, tops


def test_every_exporter_module_is_in_the_tree_where_it_is() -> None:
    named, _ = named_modules()
    exporter = ROOT / "exporter"
    packages = {"": exporter} | {
        p.name: p for p in exporter.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert set(named) == set(packages), "packages in the tree vs exporter/"
    for name, path in packages.items():
        actual = {f.stem for f in path.glob("*.py") if f.name != "__init__.py"}
        if name in WHOLE:
            continue
        where = f"exporter/{name + '/' if name else ''}"
        assert named[name] == actual, f"{where}: tree {sorted(named[name])} vs {sorted(actual)}"


def test_every_top_level_folder_in_the_tree_exists() -> None:
    _, tops = named_modules()
    assert tops, "no tree found"
    for top in tops:
        assert (ROOT / top).is_dir(), f"{top}/ is in the README tree but not in the repository"
