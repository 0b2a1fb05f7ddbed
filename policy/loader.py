"""Reading callrec.toml (with its includes) into a validated ``Config``.

This is the only policy module that touches files. Everything is collected
before failing, so one ``check-config`` run shows every problem with its
file, line (where TOML lets us find it), key path and what is allowed.
"""

from __future__ import annotations

import glob
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from policy.area_codes import parse_table, shipped_table
from policy.config import (
    AgentSection,
    CampaignSection,
    Config,
    ConfigFile,
    ConsentSection,
    QueueSection,
)
from policy.errors import ConfigError, ConfigIssue

KeyPath = tuple[str, ...]

# Which model describes the table at a key path ("*" = any name).
_TABLE_MODELS: dict[KeyPath, type[BaseModel]] = {
    (): ConfigFile,
    ("campaigns", "*"): CampaignSection,
    ("agents", "*"): AgentSection,
    ("queues", "*"): QueueSection,
}
for _name, _field in ConfigFile.model_fields.items():
    if isinstance(_field.annotation, type) and issubclass(_field.annotation, BaseModel):
        _TABLE_MODELS[(_name,)] = _field.annotation
_TABLE_MODELS[("consent", "international")] = ConsentSection.model_fields[
    "international"
].annotation  # type: ignore[assignment]


@dataclass
class _Loaded:
    """Merged raw TOML plus where every key came from."""

    data: dict[str, Any] = field(default_factory=dict)
    origin: dict[KeyPath, Path] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    lines: dict[Path, dict[KeyPath, int]] = field(default_factory=dict)
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)


def default_config() -> Config:
    """The config of an empty file, so ``callrec serve`` runs without one."""
    return Config(model=ConfigFile(), area_codes=shipped_table())


def load_config(path: Path | str) -> Config:
    """Load, merge includes, validate. Raises ``ConfigError`` listing every issue."""
    main = Path(path)
    loaded = _Loaded()
    _load_file(main, loaded, chain=())
    if loaded.errors:
        raise ConfigError(loaded.errors)

    try:
        model = ConfigFile.model_validate(loaded.data)
    except ValidationError as exc:
        loaded.errors.extend(_translate(err, loaded) for err in exc.errors())
        raise ConfigError(loaded.errors) from None

    _check_semantics(model, loaded)
    area_codes = dict(shipped_table())
    if model.consent.area_code_file:
        _load_area_codes(model.consent.area_code_file, loaded, area_codes)
    if loaded.errors:
        raise ConfigError(loaded.errors)
    return Config(
        model=model,
        area_codes=area_codes,
        files=tuple(loaded.files),
        warnings=[str(w) for w in loaded.warnings],
    )


# ---------------------------------------------------------------- reading


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def _load_file(path: Path, loaded: _Loaded, chain: tuple[Path, ...]) -> None:
    resolved = path.resolve()
    if resolved in chain:
        loaded.errors.append(
            ConfigIssue(_display(chain[-1]), "include", f"include cycle: {_display(path)}")
        )
        return
    if resolved in loaded.files:
        loaded.errors.append(
            ConfigIssue(
                _display(chain[-1]) if chain else _display(path),
                "include",
                f"{_display(path)} is included more than once",
            )
        )
        return
    try:
        text = resolved.read_text(encoding="utf-8")
    except OSError as exc:
        where = _display(chain[-1]) if chain else _display(path)
        loaded.errors.append(
            ConfigIssue(where, "include" if chain else "", f"cannot read {path}: {exc.strerror}")
        )
        return
    except UnicodeDecodeError as exc:
        loaded.errors.append(ConfigIssue(_display(resolved), "", _not_utf8(exc)))
        return
    loaded.files.append(resolved)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POS.search(str(exc))
        line = int(match.group(1)) if match else None
        message = _TOML_POS.sub("", str(exc)).strip()
        loaded.errors.append(
            ConfigIssue(_display(resolved), "", f"TOML syntax error: {message}", line)
        )
        return
    loaded.lines[resolved] = _key_lines(text)

    includes = doc.pop("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        loaded.errors.append(
            _issue(
                loaded,
                resolved,
                ("include",),
                "must be a list of file names or globs, relative to this file",
            )
        )
        includes = []
    _merge(loaded.data, doc, (), resolved, loaded)
    for pattern in includes:
        for child in _expand(pattern, resolved, loaded):
            _load_file(child, loaded, (*chain, resolved))


def _expand(pattern: str, including: Path, loaded: _Loaded) -> list[Path]:
    base = including.parent
    full = pattern if os.path.isabs(pattern) else str(base / pattern)
    if not glob.has_magic(pattern):
        return [Path(full)]  # a missing literal file is reported when read
    matches = sorted(Path(p) for p in glob.glob(full, recursive=True) if os.path.isfile(p))
    if not matches:
        loaded.warnings.append(
            _issue(loaded, including, ("include",), f"{pattern!r} matches no file")
        )
    return matches


def _merge(
    dst: dict[str, Any], src: dict[str, Any], prefix: KeyPath, file: Path, loaded: _Loaded
) -> None:
    """Tables merge across files; a key set in two files is an error naming both."""
    for key, value in src.items():
        path = (*prefix, key)
        if key not in dst:
            dst[key] = {} if isinstance(value, dict) else value
            loaded.origin[path] = file
            if isinstance(value, dict):
                _merge(dst[key], value, path, file, loaded)
            continue
        if isinstance(dst[key], dict) and isinstance(value, dict):
            _merge(dst[key], value, path, file, loaded)
            continue
        first = loaded.origin.get(path, file)
        first_line = loaded.lines.get(first, {}).get(path)
        first_at = _display(first) + (f":{first_line}" if first_line else "")
        loaded.errors.append(
            _issue(
                loaded,
                file,
                path,
                f"set in both {first_at} and {_display(file)}; a key may be set in one file only",
            )
        )


_HEADER = re.compile(r"^\s*\[(?!\[)\s*(.+?)\s*\]\s*(?:#.*)?$")
_BARE = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*({_BARE}(?:\s*\.\s*{_BARE})*)\s*=")
_PART = re.compile(r"""[A-Za-z0-9_-]+|"([^"]*)"|'([^']*)'""")


def _split_key(text: str) -> KeyPath:
    parts: list[str] = []
    for m in _PART.finditer(text):
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append(m.group(2))
        else:
            parts.append(m.group(0))
    return tuple(parts)


def _key_lines(text: str) -> dict[KeyPath, int]:
    """Best-effort map of key path -> line, since tomllib reports no positions.

    Handles table headers and (dotted) keys at line starts; keys inside
    multi-line arrays or inline tables fall back to their enclosing key.
    """
    lines: dict[KeyPath, int] = {}
    table: KeyPath = ()
    depth = 0  # open brackets of a multi-line value
    for lineno, line in enumerate(text.splitlines(), start=1):
        if depth == 0:
            header = _HEADER.match(line)
            if header:
                table = _split_key(header.group(1))
                lines.setdefault(table, lineno)
                continue
            key = _KEY.match(line)
            if key:
                path = (*table, *_split_key(key.group(1)))
                lines.setdefault(path, lineno)
                rest = line[key.end() :]
            else:
                rest = line
        else:
            rest = line
        code = re.sub(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'", "", rest).split("#", 1)[0]
        opened = code.count("[") + code.count("{")
        depth = max(0, depth + opened - code.count("]") - code.count("}"))
    return lines


def _issue(loaded: _Loaded, file: Path, path: KeyPath, message: str) -> ConfigIssue:
    table = loaded.lines.get(file, {})
    line = None
    for n in range(len(path), -1, -1):
        line = table.get(path[:n])
        if line is not None:
            break
    return ConfigIssue(_display(file), ".".join(path), message, line)


def _origin(loaded: _Loaded, path: KeyPath) -> Path:
    for n in range(len(path), 0, -1):
        found = loaded.origin.get(path[:n])
        if found is not None:
            return found
    return loaded.files[0]


def _at(loaded: _Loaded, path: KeyPath, message: str) -> ConfigIssue:
    return _issue(loaded, _origin(loaded, path), path, message)


# ------------------------------------------------------------- validation


def _model_for(parent: KeyPath) -> type[BaseModel] | None:
    if parent in _TABLE_MODELS:
        return _TABLE_MODELS[parent]
    if len(parent) == 2:
        return _TABLE_MODELS.get((parent[0], "*"))
    return None


def _translate(err: Any, loaded: _Loaded) -> ConfigIssue:
    path: KeyPath = tuple(str(p) for p in err["loc"])
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        model = _model_for(path[:-1])
        allowed = ", ".join(model.model_fields) if model else "none"
        if path[:-1] == ():
            allowed += ", include"
        message = f"unknown key; allowed keys: {allowed}"
    elif kind == "missing":
        message = "required key missing"
        if path[-1] == "mode":
            message += "; allowed: never, on_demand, all_calls, all_force"
    elif kind == "literal_error":
        message = f"must be one of: {err['ctx']['expected']} (got {got!r})"
    elif kind in ("greater_than_equal", "less_than_equal"):
        message = f"must be between 0 and 100 (got {got!r})"
    elif kind == "value_error":
        message = str(err["msg"]).removeprefix("Value error, ")
    elif kind == "bool_type":
        message = f"must be true or false (got {got!r})"
    elif kind == "string_type":
        message = f"must be a string (got {got!r})"
    elif kind in ("float_type", "int_type", "float_parsing"):
        message = f"must be a number between 0 and 100 (got {got!r})"
    elif kind == "list_type":
        message = f"must be a list (got {got!r})"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        message = f"must be a table (got {got!r})"
    else:
        message = str(err["msg"])
    return _at(loaded, path, message)


def _written(loaded: _Loaded, *path: str) -> bool:
    return tuple(path) in loaded.origin


def _check_semantics(model: ConfigFile, loaded: _Loaded) -> None:
    owners: dict[str, str] = {}
    for name, campaign in model.campaigns.items():
        seen: set[str] = set()
        for list_id in campaign.lists:
            if list_id in seen:
                loaded.warnings.append(
                    _at(loaded, ("campaigns", name, "lists"), f"list {list_id!r} listed twice")
                )
                continue
            seen.add(list_id)
            if list_id in owners:
                other = owners[list_id]
                other_file = _display(_origin(loaded, ("campaigns", other, "lists")))
                loaded.errors.append(
                    _at(
                        loaded,
                        ("campaigns", name, "lists"),
                        f"lead list {list_id!r} is already claimed by campaign {other!r} "
                        f"({other_file}); a list belongs to one campaign only",
                    )
                )
            else:
                owners[list_id] = name

    consent = model.consent
    intl = consent.international
    if intl.restrict_to_countries and not intl.countries:
        loaded.errors.append(
            _at(
                loaded,
                ("consent", "international", "countries"),
                "restrict_to_countries = true needs at least one country (ISO 3166-1 "
                'alpha-2, e.g. ["CA", "GB"]); an empty list would refuse every '
                "international call, set restrict_to_countries = false or list countries",
            )
        )
    if not intl.restrict_to_countries and intl.countries:
        loaded.warnings.append(
            _at(
                loaded,
                ("consent", "international", "countries"),
                "ignored while restrict_to_countries is false",
            )
        )
    if consent.never_record_prospect_side and _written(loaded, "consent", "mode"):
        loaded.warnings.append(
            _at(
                loaded,
                ("consent", "mode"),
                "irrelevant: never_record_prospect_side = true records the agent side only "
                "whatever the consent mode",
            )
        )
    if not model.org.recording_enabled:
        loaded.warnings.append(
            _at(
                loaded,
                ("org", "recording_enabled"),
                "recording is disabled: no call is recorded and every other setting is irrelevant",
            )
        )
    for agent_id, agent in model.agents.items():
        if agent.state is not None and agent.country != "US":
            loaded.warnings.append(
                _at(
                    loaded,
                    ("agents", agent_id, "state"),
                    f"ignored: US state rules do not apply to an agent in {agent.country}",
                )
            )
        if agent.permit_recordings is False:
            for key in ("record_percent", "mode"):
                if _written(loaded, "agents", agent_id, key):
                    loaded.warnings.append(
                        _at(
                            loaded,
                            ("agents", agent_id, key),
                            "irrelevant: permit_recordings is false for this agent",
                        )
                    )


def _not_utf8(exc: UnicodeDecodeError) -> str:
    """Say where the first byte that is not UTF-8 is, so the admin can find it."""
    byte = exc.object[exc.start]
    return f"not UTF-8 text (byte 0x{byte:02x} at offset {exc.start}); save it as UTF-8"


def _load_area_codes(name: str, loaded: _Loaded, table: dict[int, str]) -> None:
    key = ("consent", "area_code_file")
    base = _origin(loaded, key)
    path = (base.parent / name).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        loaded.errors.append(_at(loaded, key, f"cannot read {_display(path)}: {exc.strerror}"))
        return
    except UnicodeDecodeError as exc:
        loaded.errors.append(_at(loaded, key, f"{_display(path)}: {_not_utf8(exc)}"))
        return
    extra, issues = parse_table(text, _display(path))
    loaded.errors.extend(issues)
    table.update(extra)
    loaded.files.append(path)
