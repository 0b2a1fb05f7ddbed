"""An Asterisk configured the way an admin would: stock files plus what
``callrec asterisk print-config`` printed, never the project's templates.

The "stock" part is what a site already has before callrec: the generic files
of ``asterisk-conf/`` (asterisk.conf, modules, logger, RTP, PJSIP, ...), empty
http/ari/manager/features files, and a site dialplan: the simulated phones of
``dialplan/callrec-sim.conf`` and one route of its own into callrec's FastAGI
contexts, as docs/DIALPLAN.md tells a site to write it.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from callrec import sandbox
from callrec.asterisk_config import parse
from tests.ari.harness import POLICY, free_port

# Files callrec's snippets go into: on a stock Asterisk they hold nothing of callrec.
SNIPPET_TARGETS = ("http.conf", "ari.conf", "manager.conf", "features.conf", "queues.conf")

SITE_DIALPLAN = """[general]
static = yes
writeprotect = yes

#include "site/phones.conf"

; The site's own route: a customer for agent a1, recorded through callrec's FastAGI path.
[site-inbound]
exten => dial,1,Set(__CALLREC_AGENT=a1)
 same => n,Set(__CALLREC_CAMPAIGN=auto)
 same => n,Set(__CALLREC_NUMBER=+15125550142)
 same => n,Gosub(callrec-agi-prepare,s,1)
 same => n,Dial(Local/agent@callrec-sim/n,30,U(callrec-agi-answer))
 same => n,Hangup()
"""


@dataclass
class Node:
    """One node's files: settings, and where its Asterisk instance lives."""

    name: str
    tmp: Path
    settings: Path
    ports: sandbox.Ports
    agi_port: int
    credentials: dict[str, str]
    root: str
    ast_dir: str

    @property
    def host_dir(self) -> Path:
        return Path(self.root + self.ast_dir)

    @property
    def etc(self) -> Path:
        return self.host_dir / "etc"

    def cli(self, command: str) -> str:
        argv = ["asterisk", "-C", f"{self.ast_dir}/etc/asterisk.conf", "-rx", command]
        if self.root:
            argv = ["chroot", self.root, *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout


def write_node(tmp: Path, name: str, db_url: str | None = None) -> Node:
    """A production-style service.toml (no sandbox instance named) for a new instance."""
    from console.users import hash_password

    mode = sandbox.asterisk_mode()
    root = str(sandbox.rootfs_path()) if mode == "chroot" else ""
    ast_dir = (
        f"/callrec/{name}" if mode == "chroot" else str(sandbox.cache_dir() / "instances" / name)
    )
    ports = sandbox.choose_ports()
    node = Node(
        name=name,
        tmp=tmp,
        settings=tmp / "service.toml",
        ports=ports,
        agi_port=free_port(),
        credentials={
            "ari_user": "callrec",
            "ari_password": secrets.token_urlsafe(12),
            "ami_user": "callrec",
            "ami_secret": secrets.token_urlsafe(12),
        },
        root=root,
        ast_dir=ast_dir,
    )
    cli = ["asterisk", "-C", f"{ast_dir}/etc/asterisk.conf", "-rx"]
    if root:
        cli = ["chroot", root, *cli]
    (tmp / "callrec.toml").write_text(POLICY)
    (tmp / "users.toml").write_text(
        '[roles.ops]\npermissions = ["admin", "calls"]\n'
        f'[users.ops]\npassword_hash = "{hash_password("ops-pass")}"\nroles = ["ops"]\n'
    )
    for sub in ("state", "store", "platform"):
        (tmp / sub).mkdir(exist_ok=True)
    c = node.credentials
    agi_secret = tmp / "agi.secret"
    agi_secret.write_text(secrets.token_hex(24) + "\n")
    agi_secret.chmod(0o600)
    node.settings.write_text(
        f"""
policy_config = "callrec.toml"
state_dir = "state"
node_id = "{name}"
[asterisk]
ari_url = "http://127.0.0.1:{ports.http}/ari"
ari_user = "{c["ari_user"]}"
ari_password = "{c["ari_password"]}"
app = "callrec-{name}"
ami_port = {ports.ami}
ami_user = "{c["ami_user"]}"
ami_secret = "{c["ami_secret"]}"
recording_dir = "{node.host_dir}/spool/recording"
monitor_dir = "{node.host_dir}/spool/monitor"
asterisk_monitor_dir = "{ast_dir}/spool/monitor"
cli_command = {json.dumps(cli)}
[endpoints]
agent = "Local/agent@callrec-sim/n"
customer = "Local/customer@callrec-sim/n"
[http]
port = 0
users_file = "users.toml"
[agi]
port = {node.agi_port}
secret_file = "agi.secret"
[storage]
db_url = "{db_url or "sqlite:///callrec.db"}"
store_root = "store"
[storage.upload]
type = "local"
local_dir = "platform"
"""
    )
    return node


def callrec(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callrec", *argv], capture_output=True, text=True, timeout=120
    )


def merged(base: str, snippet: str) -> str:
    """Append as docs/INSTALL.md says: a section the file ends with is merged into,
    not opened a second time (Asterisk reads only the first [modules], say)."""
    sections = [ln.strip() for ln in base.splitlines() if ln.strip().startswith("[")]
    lines = snippet.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.startswith("[")), None)
    if first is not None and sections and sections[-1] == lines[first].strip():
        del lines[first]
    return base.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"


def start_asterisk(node: Node) -> sandbox.Instance:
    """Stock files + the printed snippets, appended or written as print-config says."""
    printed = callrec("asterisk", "print-config", "--settings", str(node.settings))
    assert printed.returncode == 0, printed.stderr
    files: dict[str, str] = {}
    for src in sandbox.CONF_TEMPLATES.rglob("*"):
        rel = str(src.relative_to(sandbox.CONF_TEMPLATES))
        if src.is_file() and rel != "extensions.conf" and rel not in SNIPPET_TARGETS:
            files[rel] = src.read_text()
    for rel in SNIPPET_TARGETS:
        files[rel] = "; stock: nothing here yet\n"
    files["extensions.conf"] = SITE_DIALPLAN
    files["site/phones.conf"] = (sandbox.DIALPLAN_DIR / "callrec-sim.conf").read_text()
    for action, path, text in parse(printed.stdout):
        rel = str(Path(path).relative_to("/etc/asterisk"))
        if action == "append to":
            files[rel] = merged(files.get(rel, ""), text)
        else:
            assert action == "new file" and rel not in files, (action, rel)
            files[rel] = text
    requested = {"http": node.ports.http, "ami": node.ports.ami, "sip": node.ports.sip}
    inst, started = sandbox.up(
        node.name,
        app=f"callrec-{node.name}",
        requested_ports=requested,
        files=files,
        credentials=node.credentials,
    )
    assert started
    return inst


def start_serve(node: Node) -> tuple[subprocess.Popen[bytes], str]:
    ready = node.tmp / "ready"
    ready.unlink(missing_ok=True)
    log = node.tmp / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "callrec", "serve", "--settings", str(node.settings),
         "--ready-file", str(ready), "--log-format", "json"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "serve did not become ready"
        time.sleep(0.1)
    return proc, ready.read_text()


def stop_serve(proc: subprocess.Popen[bytes], node: Node) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    assert code in (0, -signal.SIGKILL), (node.tmp / "serve.log").read_text()[-3000:]
