"""The node-side checks of ``callrec doctor``: directories, disk, database, upload target."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from callrec.doctor import Check, clock_skew, ok, problem
from callrec.service import AsteriskLink
from callrec.settings import ServiceSettings


def _writable(folder: Path) -> str | None:
    """None when callrec can create a file in ``folder``, else why not."""
    try:
        fd, name = _tempfile(folder)
    except OSError as exc:
        return str(exc.strerror or exc)
    os.close(fd)
    os.unlink(name)
    return None


def _tempfile(folder: Path) -> tuple[int, str]:
    name = str(folder / f".callrec-doctor-{uuid.uuid4().hex}")
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), name


def _creatable(folder: Path) -> Check | None:
    """For a directory callrec makes on first use: ok when its nearest parent is writable."""
    parent = folder
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    why = _writable(parent) if parent.is_dir() else f"{parent} is not a directory"
    return None if why else ok("", f"{folder} will be created by callrec under {parent}")


def dir_checks(link: AsteriskLink, settings: ServiceSettings) -> list[Check]:
    found = []
    dirs = {
        "dirs.monitor": (link.monitor_dir_host, "[asterisk] monitor_dir"),
        "dirs.store": (settings.storage.store_root, "[storage] store_root"),
        "dirs.state": (settings.state_dir, "state_dir"),
    }
    for check_id, (folder, key) in dirs.items():
        later = _creatable(folder) if check_id != "dirs.monitor" else None
        if not folder.is_dir() and later is not None:
            found.append(ok(check_id, later.detail))
            continue
        if not folder.is_dir():
            found.append(
                problem(
                    check_id,
                    f"{folder} ({key}) does not exist",
                    "create it (docs/INSTALL.md for owner and mode) or fix " + key,
                )
            )
            continue
        why = _writable(folder)
        if why:
            found.append(
                problem(
                    check_id,
                    f"callrec cannot write in {folder} ({key}): {why}",
                    "give callrec's user write access (docs/INSTALL.md), or fix " + key,
                )
            )
        else:
            found.append(ok(check_id, f"{folder} is writable"))
    return found


def disk_checks(link: AsteriskLink, settings: ServiceSettings, min_free_mb: int) -> list[Check]:
    found = []
    for what, folder in (
        ("recording", link.recording_dir),
        ("monitor", link.monitor_dir_host),
        ("store", settings.storage.store_root),
    ):
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        usage = shutil.disk_usage(probe)
        free_mb = usage.free // (1024 * 1024)
        text = f"{free_mb} MiB free for {folder} ({100 * usage.free // max(usage.total, 1)} %)"
        if free_mb < min_free_mb:
            found.append(
                problem(
                    f"disk.{what}",
                    text + f", under {min_free_mb} MiB",
                    "free space, or check that uploads and retention run (`callrec outbox status`)",
                )
            )
        else:
            found.append(ok(f"disk.{what}", text))
    return found


def db_checks(settings: ServiceSettings) -> list[Check]:
    from sqlalchemy import make_url, text
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import current_revision, head_revision, make_engine

    url = settings.storage.db_url
    shown = make_url(url).render_as_string(hide_password=True)
    engine = make_engine(url)
    try:
        try:
            have = current_revision(engine)
            before = time.time()
            with engine.connect() as conn:
                now = conn.execute(text("SELECT CURRENT_TIMESTAMP")).scalar()
            after = time.time()
        except SQLAlchemyError as exc:
            return [
                problem(
                    "db",
                    f"cannot use the database {shown}: {type(exc.__cause__ or exc).__name__}: "
                    f"{str(exc.__cause__ or exc).splitlines()[0]}",
                    "check [storage] db_url, the server and the user's rights",
                )
            ]
    finally:
        engine.dispose()
    head = head_revision()
    found = []
    if have != head:
        found.append(
            problem(
                "db.migrated",
                f"database {shown} is at revision {have or 'none'}, this callrec needs {head}",
                "run `callrec db upgrade --settings service.toml` (once, from any node)",
            )
        )
    else:
        found.append(ok("db.migrated", f"database {shown} is at revision {head}"))
    if isinstance(now, str):
        now = datetime.fromisoformat(now)
    if isinstance(now, datetime):
        stamp = (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()
        found.append(clock_skew("clock.db", "the database", stamp - (before + after) / 2, 1.0))
    return found


async def upload_checks(settings: ServiceSettings) -> list[Check]:
    from storage.errors import StorageError
    from storage.outbox import build_target

    cfg = settings.storage.upload
    if cfg.type == "none":
        return [ok("upload", "uploads are switched off ([storage.upload] type = none)")]
    if cfg.type == "local":
        folder = cfg.local_dir
        later = None if folder.is_dir() else _creatable(folder)
        if later is not None:
            return [ok("upload", later.detail)]
        why = "cannot be created" if not folder.is_dir() else _writable(folder)
        if why:
            return [
                problem(
                    "upload",
                    f"local upload directory {folder}: {why}",
                    "create it writable by callrec, or fix [storage.upload] local_dir",
                )
            ]
        return [ok("upload", f"local upload directory {folder} is writable")]
    target = build_target(cfg)
    assert target is not None
    try:
        session = await target.open()
    except StorageError as exc:
        fix = (
            f"add the server's key to {cfg.known_hosts} (ssh-keyscan -p {cfg.port} {cfg.host}, "
            "fingerprint compared out of band)"
            if exc.code == "upload.hostkey_mismatch"
            else "check [storage.upload] host, port, user and key_file, and the server"
        )
        return [problem("upload", f"[{exc.code}] {exc.message}", fix)]
    await session.close()
    return [ok("upload", f"sftp://{cfg.user}@{cfg.host}:{cfg.port} answers with a known host key")]
