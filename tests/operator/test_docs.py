"""Docs that cannot drift: every settings key, every error code of the node and
every command is documented where the docs say it is."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from callrec.cli import build_parser
from callrec.settings import ServiceSettings
from storage.config import StorageConfig

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys += _leaf_keys(ann, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def test_every_service_toml_key_has_a_row_in_operations() -> None:
    text = (DOCS / "OPERATIONS.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    documented: set[str] = set()
    for row in rows:
        cell = row.split("|")[1]
        section = re.match(r"\s*`\[([a-z_.]+)\]", cell)
        for word in re.findall(r"`(?:\[[a-z_.]+\] )?([a-z_]+)`", cell):
            documented.add(f"{section.group(1)}.{word}" if section else word)
    keys = [k for k in _leaf_keys(ServiceSettings) if not k.startswith("storage.")]
    keys += ["storage.db_url", "storage.store_root", "storage.upload.type"]
    missing = [k for k in keys if k not in documented]
    assert not missing, f"service.toml keys without a row in docs/OPERATIONS.md: {missing}"


def test_every_storage_key_is_in_the_storage_config_section() -> None:
    text = (DOCS / "STORAGE.md").read_text()
    section = text.split("## Config (`[storage]` in service.toml)", 1)[1].split("\n## ", 1)[0]
    words = set(re.findall(r"[a-z0-9_]+", section))
    keys = [k.rsplit(".", 1)[-1] for k in _leaf_keys(StorageConfig)]
    keys += ["campaign", "days", "include_assigned"]  # [[storage.retention]] entries
    missing = [k for k in keys if k not in words]
    assert not missing, f"[storage] keys missing from docs/STORAGE.md's config section: {missing}"


def test_every_error_code_of_the_node_is_documented() -> None:
    docs = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    code = re.compile(r'(?:code\s*=\s*|Error\(\s*)"([a-z_]+\.[a-z_]+)"')
    found = set()
    for package in ("callrec", "callcore"):
        for path in (ROOT / package).glob("*.py"):
            found |= set(code.findall(path.read_text()))
    assert found, "no error codes found: the pattern is wrong"
    missing = sorted(c for c in found if f"`{c}`" not in docs)
    assert not missing, f"error codes not documented in docs/: {missing}"


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands
    missing = [c for c in commands if not re.search(rf"`(callrec )?{c}\b", readme)]
    assert not missing, f"commands missing from README.md: {missing}"
