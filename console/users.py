"""Console users and roles from a TOML file; salted scrypt password hashes.

```toml
[roles.qa]
permissions = ["view_history", "view_unassigned", "assign"]

[users.alice]
password_hash = "scrypt$16384$8$1$<salt b64>$<hash b64>"
roles = ["qa"]
agent = "a1"          # optional: the console shows this agent's calls only
```

``python -m console.users hash`` prints a hash for a password read from the
terminal (or stdin); ``python -m console.users add NAME --role R --file F``
adds or replaces a user in a users file.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import re
import secrets
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.permissions import Actor, Permission

CALLS = "calls"  # control live calls (console buttons, transfer, events)
METRICS = "metrics"  # scrape /metrics
ADMIN = Permission.ADMIN.value
STORAGE_PERMISSIONS = frozenset(p.value for p in Permission)
PERMISSIONS = STORAGE_PERMISSIONS | {CALLS, METRICS}

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_DUMMY_SALT = b"callrec-dummy-salt"


_AGENT = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")


class UsersError(ValueError):
    code = "users.invalid"


class UsersCostError(UsersError):
    """A hash whose scrypt cost this service will not pay on every login."""

    code = "users.scrypt_too_costly"


# scrypt needs 128*r*(N+p+2) bytes (OpenSSL's own count); N=2^17, r=8 is 128 MiB.
# Two logins run at once (console.auth.HASH_THREADS), so this bounds them.
SCRYPT_MAX_MEMORY = 2**28


def _scrypt_memory(n: int, r: int, p: int) -> int:
    return 128 * r * (n + p + 2) + 2**20


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise UsersError("password_hash must look like scrypt$N$r$p$salt$hash")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = base64.b64decode(parts[4]), base64.b64decode(parts[5])
    except ValueError:
        raise UsersError("password_hash has unreadable numbers or base64") from None
    if not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        raise UsersError("password_hash has out-of-range scrypt parameters")
    if _scrypt_memory(n, r, p) > SCRYPT_MAX_MEMORY:
        raise UsersCostError(
            f"password_hash needs {_scrypt_memory(n, r, p) >> 20} MiB per login "
            f"(N={n}, r={r}); at most {SCRYPT_MAX_MEMORY >> 20} MiB: lower N or r"
        )
    if len(salt) < 8 or len(digest) < 16:
        raise UsersError("password_hash salt or hash too short")
    return n, r, p, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    n, r, p, salt, digest = _parse_hash(encoded)
    got = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=len(digest),
        maxmem=_scrypt_memory(n, r, p),
    )
    return hmac.compare_digest(got, digest)


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    roles: tuple[str, ...]
    permissions: frozenset[str]
    agent: str | None = None

    def has(self, perm: str) -> bool:
        """``perm`` may list alternatives: ``"view_history|view_unassigned"``."""
        if ADMIN in self.permissions:
            return True
        return any(p in self.permissions for p in perm.split("|"))

    def actor(self) -> Actor:
        """The storage actor: only storage's own permissions are passed on."""
        return Actor(
            self.name,
            frozenset(Permission(p) for p in self.permissions if p in STORAGE_PERMISSIONS),
            self.agent,
        )


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0, 0)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class UserStore:
    def __init__(self, users: Mapping[str, User]) -> None:
        self._users = dict(users)
        self._dummy = hash_password("", salt=_DUMMY_SALT)
        self.path: Path | None = None
        self._stamp = (0, 0, 0)

    @classmethod
    def load(cls, path: Path) -> UserStore:
        stamp = _stamp(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsersError(f"{path}: {exc}") from None
        try:
            store = cls.from_dict(data)
        except UsersError as exc:
            raise UsersError(f"{path}: {exc}") from None
        store.path, store._stamp = path, stamp
        return store

    def stale(self) -> bool:
        """The file changed since it was read (a user removed, a password or role changed)."""
        return self.path is not None and _stamp(self.path) != self._stamp

    def reload(self) -> None:
        """Take the file's current users; a broken file keeps the ones in force (raises)."""
        if self.path is None:
            return
        stamp = _stamp(self.path)
        try:
            fresh = UserStore.load(self.path)
        except UsersError:
            self._stamp = stamp  # not retried on every request; the next edit is
            raise
        self._users, self._stamp = fresh._users, fresh._stamp

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UserStore:
        unknown = set(data) - {"users", "roles"}
        if unknown:
            raise UsersError(f"unknown top-level keys {sorted(unknown)}")
        roles: dict[str, frozenset[str]] = {}
        for rname, rdata in _table(data, "roles").items():
            perms = _str_list(rdata, "permissions", f"roles.{rname}")
            bad = [p for p in perms if p not in PERMISSIONS]
            if bad:
                raise UsersError(
                    f"roles.{rname}.permissions: unknown {bad}; known: {sorted(PERMISSIONS)}"
                )
            extra = set(rdata) - {"permissions"}
            if extra:
                raise UsersError(f"roles.{rname}: unknown keys {sorted(extra)}")
            roles[rname] = frozenset(perms)
        users: dict[str, User] = {}
        for uname, udata in _table(data, "users").items():
            where = f"users.{uname}"
            if not isinstance(udata, dict):
                raise UsersError(f"{where} must be a table")
            extra = set(udata) - {"password_hash", "roles", "agent"}
            if extra:
                raise UsersError(f"{where}: unknown keys {sorted(extra)}")
            pw = udata.get("password_hash")
            if not isinstance(pw, str):
                raise UsersError(f"{where}.password_hash is required (a string)")
            try:
                _parse_hash(pw)
            except UsersError as exc:
                raise type(exc)(f"{where}.password_hash: {exc}") from None
            user_roles = _str_list(udata, "roles", where)
            missing = [r for r in user_roles if r not in roles]
            if missing:
                raise UsersError(f"{where}.roles: unknown roles {missing}")
            agent = udata.get("agent")
            if agent is not None and not (isinstance(agent, str) and _AGENT.match(agent)):
                raise UsersError(
                    f"{where}.agent must be an agent id (letters, digits, '_', '.', '-'; "
                    "no '@', ':' or '/', which would reach a dial string)"
                )
            granted: frozenset[str] = frozenset().union(*(roles[r] for r in user_roles))
            users[uname] = User(uname, pw, tuple(user_roles), granted, agent)
        return cls(users)

    @classmethod
    def single(cls, name: str, password: str, permissions: Iterable[str]) -> UserStore:
        """One user with the given permissions (tests and embedded setups)."""
        perms = frozenset(permissions)
        bad = perms - PERMISSIONS
        if bad:
            raise UsersError(f"unknown permissions {sorted(bad)}")
        return cls({name: User(name, hash_password(password), ("custom",), perms)})

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    def names(self) -> list[str]:
        return sorted(self._users)

    def authenticate(self, name: str, password: str) -> User | None:
        user = self._users.get(name)
        if user is None:
            verify_password(password, self._dummy)  # same cost: no user enumeration by timing
            return None
        return user if verify_password(password, user.password_hash) else None


def _table(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise UsersError(f"[{key}] must be a table")
    return value


def _str_list(data: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsersError(f"{where}.{key} must be a list of strings")
    return list(value)


# -- command line -------------------------------------------------------------


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("passwords differ")
    return first


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def add_user(path: Path, name: str, roles: list[str], password: str) -> None:
    """Add or replace ``[users.NAME]`` in the file, keeping everything else as written."""
    if not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise UsersError("user names use letters, digits, '-', '_' and '.'")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    data = tomllib.loads(text) if text else {}
    known = set(_table(data, "roles"))
    missing = [r for r in roles if r not in known]
    if missing:
        raise UsersError(f"unknown roles {missing}; define them under [roles.NAME] first")
    lines = text.splitlines()
    header = f"[users.{name}]"
    if header in (line.strip() for line in lines):
        start = next(i for i, line in enumerate(lines) if line.strip() == header)
        end = start + 1
        while end < len(lines) and not lines[end].lstrip().startswith("["):
            end += 1
        del lines[start:end]
    block = [
        header,
        f"password_hash = {_toml_str(hash_password(password))}",
        "roles = [" + ", ".join(_toml_str(r) for r in roles) + "]",
        "",
    ]
    if lines and lines[-1].strip():
        lines.append("")
    new_text = "\n".join(lines + block)
    UserStore.from_dict(tomllib.loads(new_text))  # never write a file we cannot read back
    path.write_text(new_text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.users")
    sub = parser.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hash", help="print a password hash for a users file")
    h.add_argument("--stdin", action="store_true", help="read the password from stdin")
    a = sub.add_parser("add", help="add or replace a user in a users file")
    a.add_argument("name")
    a.add_argument("--role", action="append", required=True, dest="roles")
    a.add_argument("--file", type=Path, default=Path("users.toml"))
    a.add_argument("--stdin", action="store_true", help="read the password from stdin")
    c = sub.add_parser("check", help="validate a users file")
    c.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "hash":
            print(hash_password(_read_password(args.stdin)))
        elif args.cmd == "add":
            add_user(args.file, args.name, args.roles, _read_password(args.stdin))
            print(f"{args.file}: user {args.name} with roles {', '.join(args.roles)}")
        else:
            store = UserStore.load(args.file)
            print(f"{args.file}: {len(store.names())} users: {', '.join(store.names())}")
    except UsersError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
