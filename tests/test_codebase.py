"""The codebase's own rules, checked like any behaviour (docs/architecture.md explains them).

Import layers and cycles are import-linter's contracts (pyproject.toml, `lint-imports` in
`make test`); private attributes of other objects are ruff's SLF001. What neither tool checks
is here: module sizes and imports of private names from third-party packages.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("api", "apikeys", "config", "crm", "integrations", "ops")
MODULE_LIMIT = 400
ADAPTER_LIMIT = 100


def project_modules() -> list[Path]:
    return sorted(
        path
        for package in PROJECT_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_project_packages_exist():
    # A renamed package would otherwise make every check below pass vacuously.
    for package in PROJECT_PACKAGES:
        assert (ROOT / package / "__init__.py").is_file(), package
    assert len(project_modules()) > 50


def test_no_module_is_longer_than_the_limit():
    too_long = {
        str(path.relative_to(ROOT)): line_count(path)
        for path in project_modules()
        if line_count(path) > MODULE_LIMIT
    }
    assert too_long == {}


def test_each_provider_adapter_fits_in_the_limit():
    adapters = [
        path
        for path in (ROOT / "integrations" / "providers").glob("*.py")
        if path.stem not in {"__init__"} and not path.stem.startswith("base")
    ]
    assert len(adapters) >= 4
    assert {p.name: line_count(p) for p in adapters if line_count(p) > ADAPTER_LIMIT} == {}


def private_imports(source: str) -> list[str]:
    """Names imported from a third-party package that are private to it (a leading underscore)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in PROJECT_PACKAGES:
                continue
            parts = node.module.split(".") + [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            parts = [part for alias in node.names for part in alias.name.split(".")]
            if parts[0] in PROJECT_PACKAGES:
                continue
        else:
            continue
        private = [p for p in parts if p.startswith("_") and not p.startswith("__")]
        if private:
            found.append(".".join(parts))
    return found


@pytest.mark.parametrize(
    "source, expected",
    [
        # A made-up library: the rule is the same for every package outside the project.
        ("from somelib.pagination import _helper", ["somelib.pagination._helper"]),
        ("import somelib._internal", ["somelib._internal"]),
        ("from django.db import transaction", []),
        ("from crm.services import _helper", []),
        ("from __future__ import annotations", []),
    ],
)
def test_private_imports_are_recognised(source, expected):
    assert private_imports(source) == expected


def test_no_private_name_of_a_third_party_package_is_imported():
    modules = (
        project_modules()
        + sorted((ROOT / "tests").rglob("*.py"))
        + sorted((ROOT / "bench").rglob("*.py"))
    )
    found = {
        str(path.relative_to(ROOT)): names
        for path in modules
        if (names := private_imports(path.read_text(encoding="utf-8")))
    }
    assert found == {}
