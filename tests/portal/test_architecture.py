"""The house is a ladder: each room imports only the rooms beneath it, and each module holds
one subject.

core ← audit ← accounts ← federation ← access ← sandbox, and portal (settings, urls, wsgi)
on top, importing the apps only in urls.py. Every import counts, inside functions too: a
lazy import that climbs is still a circle. Every app Django runs is a room of the ladder,
and no product module passes MODULE_LINES (one that does usually holds several subjects).
"""

import ast
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
LADDER = ["core", "audit", "accounts", "federation", "access", "sandbox", "portal"]


def imports_of(path):
    """(line, imported top-level package) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def project_files(root=ROOT):
    for room in LADDER:
        yield from sorted((root / room).rglob("*.py"))


def climbs(root=ROOT):
    found = []
    for path in project_files(root):
        room = path.relative_to(root).parts[0]
        for line, package in imports_of(path):
            if package not in LADDER or package == room:
                continue
            where = f"{path.relative_to(root)}:{line} imports {package}"
            if package == "portal":
                found.append(f"{where}: nothing imports the project package")
            elif room == "portal" and path.name != "urls.py":
                found.append(f"{where}: portal imports apps only in urls.py")
            elif LADDER.index(package) > LADDER.index(room):
                found.append(f"{where}: a room above {room}")
    return found


def test_no_import_climbs_the_ladder():
    assert climbs() == []


def test_the_walk_would_see_a_climb(tmp_path):
    # The check can fail: climbs planted in a copy of the house are reported.
    for room, text in {
        "core": "def late():\n    from federation import services\n",
        "audit": "import accounts.models\n",
        "federation": "from portal.settings import DEBUG\n",
        "portal": "from accounts import views\n",
    }.items():
        (tmp_path / room).mkdir()
        (tmp_path / room / "planted.py").write_text(text)
    assert climbs(tmp_path) == [
        "core/planted.py:2 imports federation: a room above core",
        "audit/planted.py:1 imports accounts: a room above audit",
        "federation/planted.py:1 imports portal: nothing imports the project package",
        "portal/planted.py:1 imports accounts: portal imports apps only in urls.py",
    ]


@pytest.mark.parametrize("room", LADDER)
def test_every_room_is_walked(room):
    assert any(path.relative_to(ROOT).parts[0] == room for path in project_files())


def test_every_app_of_the_project_is_a_room_of_the_ladder():
    own = [config.name for config in apps.get_app_configs() if (ROOT / config.name).is_dir()]
    assert own and set(own) <= set(LADDER)


# The product's modules; settings (one module by design), migrations and the sandbox (a
# stand-in, not the product) aside.
MODULE_LINES = 450
NOT_PRODUCT = {"sandbox", "migrations"}


def too_long(root=ROOT):
    found = []
    for path in project_files(root):
        parts = path.relative_to(root).parts
        if NOT_PRODUCT & set(parts) or parts == ("portal", "settings.py"):
            continue
        lines = len(path.read_text().splitlines())
        if lines > MODULE_LINES:
            found.append(f"{path.relative_to(root)}: {lines} lines")
    return found


def test_no_product_module_holds_more_than_one_subjects_worth_of_lines():
    assert too_long() == []


def test_the_count_would_see_a_long_module(tmp_path):
    (tmp_path / "federation").mkdir()
    (tmp_path / "federation" / "long.py").write_text("x = 1\n" * (MODULE_LINES + 1))
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "long.py").write_text("x = 1\n" * (MODULE_LINES + 1))
    assert too_long(tmp_path) == [f"federation/long.py: {MODULE_LINES + 1} lines"]
