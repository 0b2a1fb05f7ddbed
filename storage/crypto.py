"""Encryption at rest (optional): recordings stored as age files to admin public keys.

When ``[storage.encryption] recipients`` lists one or more age X25519 public
keys (``age1...``), each file is encrypted as it is stored and the plaintext
removed, so the store and the upload target hold only ciphertext; the
recording host needs no private key to write. Play and download decrypt in
memory, only on a node whose ``identity_file`` holds a matching private key
(``AGE-SECRET-KEY-1...``). The SHA-256 kept is that of the stored (encrypted)
bytes, checked again before every play and download.

Encryption is by pyrage, a binding of the maintained Rust age implementation;
the files are standard age files (``age -d -i key.txt file.age`` opens them).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pyrage
from pyrage import x25519

from storage.errors import StorageError

SUFFIX = ".age"


class KeyUnavailable(StorageError):
    """The recording is encrypted and this node has no private key for it."""

    code = "recording.encrypted"


def recipients(keys: Sequence[str]) -> list[x25519.Recipient]:
    """Parse public keys; ``ValueError`` names the bad one."""
    parsed = []
    for key in keys:
        try:
            parsed.append(x25519.Recipient.from_str(key.strip()))
        except pyrage.RecipientError:
            raise ValueError(f"not an age X25519 public key (age1...): {key[:12]!r}...") from None
    return parsed


def load_identities(path: Path) -> list[x25519.Identity]:
    """Private keys from an age key file (comment lines start with '#')."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise KeyUnavailable(f"identity file {path}: {exc.strerror}") from None
    keys = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                keys.append(x25519.Identity.from_str(line))
            except pyrage.IdentityError:
                raise KeyUnavailable(f"identity file {path}: a line is not an age key") from None
    if not keys:
        raise KeyUnavailable(f"identity file {path} holds no age key")
    return keys


def encrypt_file(src: Path, keys: Sequence[x25519.Recipient]) -> Path:
    """Write ``src`` + ".age" (0600, fsynced) encrypted to ``keys``; ``src`` is kept."""
    dest = src.with_name(src.name + SUFFIX)
    tmp = dest.with_name(dest.name + ".part")
    # pyrage's file API writes with default modes; encrypting in memory keeps 0600.
    sealed = pyrage.encrypt(src.read_bytes(), list(keys))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(sealed)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, dest)
    return dest


def decrypt_file(path: Path, identities: Sequence[x25519.Identity]) -> bytes:
    try:
        return bytes(pyrage.decrypt(path.read_bytes(), list(identities)))
    except pyrage.DecryptError:
        raise KeyUnavailable(f"{path.name}: none of this node's private keys opens it") from None


def is_encrypted(path: Path) -> bool:
    return path.name.endswith(SUFFIX)


def plain_name(path: Path) -> str:
    """The file name without ".age" (gives the audio format's extension back)."""
    return path.name[: -len(SUFFIX)] if is_encrypted(path) else path.name
