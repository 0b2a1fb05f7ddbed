"""A real Asterisk for development, tests and the demo, on loopback only.

Debian 12 ships no Asterisk, so by default we build (once, then cache) a
Debian sid root filesystem with debootstrap and run Asterisk in it by chroot,
inside a private mount namespace: /proc and /dev are bind-mounted only in that
namespace, so the mounts vanish with the process and can never leak. Where an
``asterisk`` binary is installed on the host, it is used instead.

Each running Asterisk is an *instance* with a name, its own rendered config,
spool and log directories, free loopback ports and generated credentials,
recorded in a state file (mode 0600) so ``status``/``down`` work from any
process and a stale pid is recognised.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from storage.files import private_dir, write_private

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_TEMPLATES = REPO_ROOT / "asterisk-conf"
DIALPLAN_DIR = REPO_ROOT / "dialplan"
DEBIAN_PACKAGES = "asterisk,asterisk-modules,asterisk-core-sounds-en-wav"
COMPLETE_MARKER = ".callrec-complete"
MODULE_DIR_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/asterisk/modules",
    "/usr/lib/aarch64-linux-gnu/asterisk/modules",
    "/usr/lib/asterisk/modules",
    "/usr/lib64/asterisk/modules",
)


class SandboxError(RuntimeError):
    """A problem starting or stopping the sandbox, phrased for the operator."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def cache_dir() -> Path:
    return Path(os.environ.get("CALLREC_CACHE", "/var/cache/callrec"))


def asterisk_mode() -> str:
    """'chroot' (Debian sid root) or 'system' (an installed asterisk)."""
    wanted = os.environ.get("CALLREC_ASTERISK", "auto")
    if wanted in ("chroot", "system"):
        return wanted
    if wanted != "auto":
        raise SandboxError(
            "sandbox.bad_mode", f"CALLREC_ASTERISK={wanted!r}: use auto, chroot or system"
        )
    return "system" if shutil.which("asterisk") else "chroot"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise builds and starts between processes (pytest and a shell, say)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _instances_lock() -> Path:
    """One lock for starting and stopping any instance (a start takes seconds).

    Older versions kept a lock file per instance name, which piled up; no
    code takes them any more, so those of names with no instance go.
    """
    folder = cache_dir() / "instances"
    for old in folder.glob("*.lock") if folder.is_dir() else ():
        if not (folder / f"{old.stem}.json").exists():
            old.unlink(missing_ok=True)
    return folder / ".lock"


# --------------------------------------------------------------------- rootfs


def rootfs_path() -> Path:
    return cache_dir() / "rootfs"


def ensure_rootfs(log: bool = True) -> Path:
    """Return a complete sid root with Asterisk, building it if needed.

    A root without the completion marker (an interrupted build) is removed and
    rebuilt rather than trusted.
    """
    root = rootfs_path()
    with _locked(cache_dir() / "rootfs.lock"):
        if (root / COMPLETE_MARKER).is_file():
            return root
        partial = cache_dir() / "rootfs.partial"
        for stale in (root, partial):
            if stale.exists():
                if log:
                    print(f"callrec: removing half-built cache {stale}")
                _unmount_under(stale)
                shutil.rmtree(stale)
        if not shutil.which("debootstrap"):
            raise SandboxError(
                "sandbox.no_debootstrap",
                "debootstrap is not installed: run `apt-get install -y debootstrap` "
                "(or install an asterisk binary on the host)",
            )
        if log:
            print(f"callrec: building Asterisk root in {partial} (debootstrap sid, ~1 min)")
        logfile = cache_dir() / "debootstrap.log"
        with logfile.open("w") as out:
            proc = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={DEBIAN_PACKAGES}",
                    "sid",
                    str(partial),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        if proc.returncode != 0:
            tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-15:])
            raise SandboxError(
                "sandbox.build_failed",
                "could not install Asterisk from Debian sid with debootstrap "
                f"(exit {proc.returncode}; sid changes daily, a retry may help). "
                f"Full log: {logfile}\n{tail}",
            )
        version = subprocess.run(
            ["chroot", str(partial), "asterisk", "-V"],
            capture_output=True,
            text=True,
            check=False,
        )
        if version.returncode != 0 or "Asterisk" not in version.stdout:
            raise SandboxError(
                "sandbox.build_failed",
                f"the built root has no working asterisk: {version.stderr.strip()}",
            )
        (partial / COMPLETE_MARKER).write_text(version.stdout)
        partial.rename(root)
        if log:
            print(f"callrec: built {version.stdout.strip()}")
        return root


def _unmount_under(path: Path) -> None:
    """Unmount anything a crashed older run left mounted below ``path``."""
    prefix = str(path.resolve())
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(prefix)
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


# ------------------------------------------------------------------ instances


@dataclass
class Ports:
    http: int
    ami: int
    agi: int
    sip: int
    rtp_start: int
    rtp_end: int


@dataclass
class Instance:
    """One running (or recorded) Asterisk, and how to reach it."""

    name: str
    mode: str
    root: str  # "" in system mode; else the chroot directory on the host
    ast_dir: str  # the instance directory as Asterisk sees it
    ports: Ports
    ari_user: str
    ari_password: str
    ami_user: str
    ami_secret: str
    app: str
    # The FastAGI secret the dialplan presents (an instance from before it existed has "").
    agi_secret: str = ""
    pid: int = 0
    version: str = ""
    started_at: float = field(default_factory=time.time)

    # Paths: Asterisk sees ``ast_dir``; the host sees it under ``root``.
    def host_path(self, asterisk_path: str) -> Path:
        if not self.root:
            return Path(asterisk_path)
        return Path(self.root + asterisk_path)

    @property
    def host_dir(self) -> Path:
        return self.host_path(self.ast_dir)

    @property
    def recording_dir(self) -> Path:
        """Where ARI stored recordings land, on the host."""
        return self.host_dir / "spool" / "recording"

    @property
    def monitor_dir(self) -> Path:
        """Where MixMonitor writes (as the host sees it)."""
        return self.host_dir / "spool" / "monitor"

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}/ari"

    @property
    def log_file(self) -> Path:
        return self.host_dir / "log" / "console.log"

    def alive(self) -> bool:
        return _pid_alive(self.pid)

    def cli(self, command: str, timeout: float = 20) -> str:
        """Run an Asterisk CLI command against this instance."""
        conf = f"{self.ast_dir}/etc/asterisk.conf"
        argv = ["asterisk", "-C", conf, "-rx", command]
        if self.root:
            argv = ["chroot", self.root, *argv]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        return proc.stdout


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader is dead only once its other threads are gone too: a
    # multithreaded Asterisk keeps its sockets open until the last one exits.
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        if stat.read_text().split(")")[-1].split()[0] == "Z":
            return len(os.listdir(f"/proc/{pid}/task")) > 1
    return True


def state_file(name: str) -> Path:
    return cache_dir() / "instances" / f"{name}.json"


def load_instance(name: str) -> Instance | None:
    path = state_file(name)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    data["ports"] = Ports(**data["ports"])
    return Instance(**data)


def _save_instance(inst: Instance) -> None:
    path = state_file(inst.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(inst), out, indent=2)
    tmp.replace(path)


def _port_free(port: int) -> bool:
    """Whether Asterisk could bind ``port`` now.

    TCP is probed with SO_REUSEADDR, as Asterisk binds its listeners: the
    connections a killed Asterisk leaves in TIME_WAIT or FIN_WAIT do not stop
    it, only a socket still listening does.
    """
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _wait_port_free(port: int, linger: float) -> bool:
    """Poll ``port`` for up to ``linger`` seconds (a dying process may still hold it)."""
    deadline = time.monotonic() + linger
    while not _port_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _free_port(taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken and _port_free(port):
            taken.add(port)
            return port


def _free_rtp_range(taken: set[int], width: int = 400) -> tuple[int, int]:
    for _ in range(200):
        start = secrets.randbelow(20000) // 2 * 2 + 20000
        ports = range(start, start + width)
        if not taken.intersection(ports) and all(_port_free(p) for p in ports[::50]):
            taken.update(ports)
            return start, start + width - 1
    raise SandboxError("sandbox.no_ports", "no free RTP port range on 127.0.0.1")


def choose_ports(
    requested: dict[str, int] | None = None,
    previous: Ports | None = None,
    linger: float = 0.0,
) -> Ports:
    """Free loopback ports, honouring explicit requests (which must be free).

    ``previous`` are the ports of the same instance before it died: they are
    kept when they come free within ``linger`` seconds, so clients configured
    with them (a running ``callrec serve``) find the restarted Asterisk.
    """
    requested = requested or {}
    taken: set[int] = set()
    values: dict[str, int] = {}
    for key in ("http", "ami", "agi", "sip"):
        port = requested.get(key)
        if port:
            if not _wait_port_free(port, linger):
                raise SandboxError(
                    "sandbox.port_in_use",
                    f"port {port} on 127.0.0.1 (wanted for {key}) is in use by another "
                    "process: free it or choose another port",
                )
            taken.add(port)
            values[key] = port
            continue
        old = getattr(previous, key) if previous is not None else 0
        if old and old not in taken and _wait_port_free(old, linger):
            taken.add(old)
            values[key] = old
            continue
        if old:
            print(f"callrec: port {old} ({key}) is still in use; choosing another")
        values[key] = _free_port(taken)
    if previous is not None and all(
        _port_free(p) for p in range(previous.rtp_start, previous.rtp_end + 1)[::50]
    ):
        taken.update(range(previous.rtp_start, previous.rtp_end + 1))
        return Ports(rtp_start=previous.rtp_start, rtp_end=previous.rtp_end, **values)
    rtp_start, rtp_end = _free_rtp_range(taken)
    return Ports(rtp_start=rtp_start, rtp_end=rtp_end, **values)


def _crypt_password(password: str) -> tuple[str, str]:
    """ari.conf wants a crypt hash, so no plaintext secret is left on disk."""
    if shutil.which("openssl"):
        proc = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"],
            input=password,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0 and proc.stdout.startswith("$6$"):
            return proc.stdout.strip(), "crypt"
    return password, "plain"


def _module_dir(root: str) -> str:
    for candidate in MODULE_DIR_CANDIDATES:
        if Path(root + candidate).is_dir():
            return candidate
    raise SandboxError("sandbox.no_modules", "cannot find Asterisk's module directory")


def render_config(
    inst: Instance, stasis_fallback: str = "agent", files: Mapping[str, str] | None = None
) -> None:
    """Fill the templates in asterisk-conf/ into the instance's etc/.

    ``files`` (path under etc/ -> text) replaces the templates and dialplan/
    altogether: an instance configured the way an admin would, from given files.
    """
    host = inst.host_dir
    etc = host / "etc"
    if etc.exists():
        shutil.rmtree(etc)
    for sub in ("etc", "spool/recording", "spool/monitor", "run", "log", "lib/db"):
        (host / sub).mkdir(parents=True, exist_ok=True)
    run_as = _asterisk_user(inst.root)
    password_hash, password_format = _crypt_password(inst.ari_password)
    values = {
        "ETC_DIR": f"{inst.ast_dir}/etc",
        "MOD_DIR": _module_dir(inst.root),
        "VARLIB_DIR": "/var/lib/asterisk",
        "DB_DIR": f"{inst.ast_dir}/lib/db",
        "DATA_DIR": "/usr/share/asterisk",
        "SPOOL_DIR": f"{inst.ast_dir}/spool",
        "RUN_DIR": f"{inst.ast_dir}/run",
        "LOG_DIR": f"{inst.ast_dir}/log",
        "HTTP_PORT": str(inst.ports.http),
        "AMI_PORT": str(inst.ports.ami),
        "AGI_PORT": str(inst.ports.agi),
        "SIP_PORT": str(inst.ports.sip),
        "RTP_START": str(inst.ports.rtp_start),
        "RTP_END": str(inst.ports.rtp_end),
        "ARI_USER": inst.ari_user,
        "ARI_PASSWORD_HASH": password_hash,
        "ARI_PASSWORD_FORMAT": password_format,
        "AMI_USER": inst.ami_user,
        "AMI_SECRET": inst.ami_secret,
        "AGI_SECRET": inst.agi_secret,
        "ARI_APP": inst.app,
        "STASIS_FALLBACK": stasis_fallback,
        "RUN_AS": (
            "runuser = asterisk\nrungroup = asterisk"
            if run_as
            else "; runs as root: there is no 'asterisk' user where it runs"
        ),
    }

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        return text

    def put(path: Path, text: str) -> None:
        """0600 in 0700 dirs from the start: secrets are never readable, not even for an instant."""
        private_dir(path.parent)
        write_private(path, text)

    etc.chmod(0o700)
    if files is not None:
        for rel, text in files.items():
            put(etc / rel, fill(text))
    for src in CONF_TEMPLATES.rglob("*") if files is None else ():
        if src.is_file():
            put(etc / src.relative_to(CONF_TEMPLATES), fill(src.read_text()))
    for src in DIALPLAN_DIR.rglob("*.conf") if files is None else ():
        put(etc / "dialplan" / src.relative_to(DIALPLAN_DIR), fill(src.read_text()))
    if run_as:
        # Asterisk drops root right after start: it must own what it reads and writes.
        for path in [host, *host.rglob("*")]:
            os.chown(path, *run_as, follow_symlinks=False)
    # Live captures (Asterisk writes them 0644) and the spool stay out of other users' reach.
    host.chmod(0o700)


def _asterisk_user(root: str) -> tuple[int, int] | None:
    """uid and gid of the 'asterisk' user where Asterisk runs (the chroot's own passwd)."""
    try:
        lines = Path(root + "/etc/passwd").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == "asterisk" and fields[2].isdigit():
            return int(fields[2]), int(fields[3])
    return None



def _ari_ready(inst: Instance) -> bool:
    request = urllib.request.Request(f"{inst.ari_url}/asterisk/info")
    token = b64encode(f"{inst.ari_user}:{inst.ari_password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


# How long a restart waits for the old ports of a killed instance to come free.
_PORT_LINGER = 10.0


def up(
    name: str = "default",
    *,
    app: str = "callrec",
    requested_ports: dict[str, int] | None = None,
    stasis_fallback: str = "agent",
    timeout: float = 60.0,
    files: Mapping[str, str] | None = None,
    credentials: Mapping[str, str] | None = None,
) -> tuple[Instance, bool]:
    """Start instance ``name``; return it and whether it was started now.

    ``files`` configures it from given files instead of the templates (see
    ``render_config``); ``credentials`` then names the ARI and AMI users those
    files define (``ari_user``, ``ari_password``, ``ami_user``, ``ami_secret``).

    Starting a running instance is not an error: it is returned as is. An
    instance whose Asterisk died (killed, crashed) is started again on its old
    ports with its old credentials, so a running ``callrec serve`` reconnects.
    """
    mode = asterisk_mode()
    root = str(ensure_rootfs()) if mode == "chroot" else ""
    with _locked(_instances_lock()):
        existing = load_instance(name)
        previous: Instance | None = None
        if existing is not None:
            if existing.alive():
                return existing, False
            print(f"callrec: instance {name!r}: removing stale state (pid {existing.pid} is gone)")
            _cleanup(existing)
            previous = existing if existing.mode == mode else None
        if mode == "chroot":
            ast_dir = f"/callrec/{name}"
        else:
            ast_dir = str(cache_dir() / "instances" / name)
        inst = Instance(
            name=name,
            mode=mode,
            root=root,
            ast_dir=ast_dir,
            ports=choose_ports(
                requested_ports,
                previous.ports if previous else None,
                linger=_PORT_LINGER if previous else 0.0,
            ),
            ari_user="callrec",
            ari_password=previous.ari_password if previous else secrets.token_urlsafe(18),
            ami_user="callrec",
            ami_secret=previous.ami_secret if previous else secrets.token_urlsafe(18),
            agi_secret=previous.agi_secret if previous and previous.agi_secret
            else secrets.token_hex(24),
            app=app,
        )
        for key, value in (credentials or {}).items():
            setattr(inst, key, value)
        render_config(inst, stasis_fallback, files)
        conf = f"{inst.ast_dir}/etc/asterisk.conf"
        if mode == "chroot":
            script = (
                f'mount --bind /proc "{root}/proc" && mount --bind /dev "{root}/dev" '
                f'&& exec chroot "{root}" /usr/sbin/asterisk -f -C "{conf}"'
            )
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
        else:
            argv = [shutil.which("asterisk") or "asterisk", "-f", "-C", conf]
        inst.log_file.parent.mkdir(parents=True, exist_ok=True)
        with inst.log_file.open("wb") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        inst.pid = proc.pid
        _save_instance(inst)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = "\n".join(inst.log_file.read_text(errors="replace").splitlines()[-20:])
                _cleanup(inst)
                raise SandboxError(
                    "sandbox.start_failed",
                    f"Asterisk exited with {proc.returncode} while starting; "
                    f"last lines of {inst.log_file}:\n{tail}",
                )
            if _ari_ready(inst):
                inst.version = inst.cli("core show version").strip()
                _save_instance(inst)
                return inst, True
            time.sleep(0.2)
        stop(inst)
        raise SandboxError(
            "sandbox.start_timeout",
            f"Asterisk did not answer on ARI port {inst.ports.http} within {timeout:.0f}s; "
            f"see {inst.log_file}",
        )


def stop(inst: Instance, timeout: float = 15.0) -> None:
    """Stop the process group and forget the instance."""
    if inst.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(inst.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while inst.alive() and time.monotonic() < deadline:
            _reap(inst.pid)
            time.sleep(0.1)
        if inst.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(inst.pid, signal.SIGKILL)
            while inst.alive():
                _reap(inst.pid)
                time.sleep(0.05)
    _reap(inst.pid)
    _cleanup(inst)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _cleanup(inst: Instance) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_file(inst.name).unlink()
    if inst.root:
        _unmount_under(Path(inst.root))


def down(name: str = "default") -> bool:
    """Stop instance ``name``; return False if it was not running."""
    with _locked(_instances_lock()):
        inst = load_instance(name)
        if inst is None:
            return False
        was_alive = inst.alive()
        stop(inst)
        return was_alive


def leftovers(inst: Instance) -> list[str]:
    """What a stopped instance might have left behind: processes, mounts, ports."""
    found: list[str] = []
    if _pid_alive(inst.pid):
        found.append(f"process {inst.pid}")
    if inst.root:
        prefix = str(Path(inst.root).resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            if line.split()[1].startswith(prefix):
                found.append(f"mount {line.split()[1]}")
    for key in ("http", "ami", "sip"):
        port = getattr(inst.ports, key)
        if _port_bound(port):
            found.append(f"port {port} ({key})")
    return found


def _port_bound(port: int) -> bool:
    """A listening TCP or bound UDP socket on ``port`` (TIME_WAIT does not count)."""
    for table, states in (("/proc/net/tcp", {"0A"}), ("/proc/net/udp", {"07"})):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if int(cols[1].split(":")[1], 16) == port and cols[3] in states:
                return True
    return False
