"""What to add to an existing Asterisk for one callrec node, filled in from its settings.

``callrec asterisk print-config`` prints these snippets; docs/INSTALL.md says
where each goes. The dialplan files are the ones shipped in ``dialplan/``,
without the contexts that only the sandbox's tests and demo use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from callrec import sandbox
from callrec.settings import ServiceSettings, SettingsError

MARK = ";;;; callrec print-config:"
# Contexts of dialplan/ that exist for the sandbox's tests and demo only.
_TEST_CONTEXT = re.compile(r"^\[(callrec-agi-test|callrec-inbound-demo)\]")
# With `autoload = no` in modules.conf these must be loaded (autoload loads them all).
MODULES = (
    "res_http_websocket.so",
    "res_stasis.so",
    "res_stasis_answer.so",
    "res_stasis_playback.so",
    "res_stasis_recording.so",
    "res_stasis_snoop.so",
    "res_ari.so",
    "res_ari_model.so",
    "res_ari_applications.so",
    "res_ari_asterisk.so",
    "res_ari_bridges.so",
    "res_ari_channels.so",
    "res_ari_events.so",
    "res_ari_playbacks.so",
    "res_ari_recordings.so",
    "res_agi.so",
    "cel_manager.so",
    "app_stasis.so",
    "app_mixmonitor.so",
    "app_userevent.so",
    "app_stack.so",
    "app_exec.so",
    "app_dial.so",
    "app_playtones.so",
    "func_channel.so",
    "func_strings.so",
    "func_logic.so",
    "func_uuid.so",
    "func_global.so",
    "func_dialplan.so",
    "format_wav.so",
    "bridge_simple.so",
    "bridge_softmix.so",
    "bridge_builtin_features.so",
)


@dataclass(frozen=True)
class Snippet:
    """``path`` relative to Asterisk's config dir; ``append`` or a ``new`` file."""

    path: str
    mode: str
    text: str


def snippets(settings: ServiceSettings) -> list[Snippet]:
    a = settings.asterisk
    if not (a.ari_url and a.ari_user and a.ari_password and a.ami_user and a.ami_secret):
        raise SettingsError(
            "print-config needs [asterisk] ari_url, ari_user, ari_password, ami_user and "
            "ami_secret in service.toml: the snippets carry them to Asterisk"
        )
    ari = urlsplit(a.ari_url)
    http_host, http_port = ari.hostname or "127.0.0.1", ari.port or 8088
    password_hash, password_format = sandbox._crypt_password(a.ari_password)
    agi_port = settings.agi.port or 4573
    try:
        agi_secret = settings.agi.secret()
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if not agi_secret:
        raise SettingsError(
            "print-config needs [agi] secret_file in service.toml: the dialplan presents "
            "that secret to callrec's FastAGI server (docs/OPERATIONS.md, Security)"
        )
    dtmf = settings.dtmf
    out = [
        Snippet(
            "http.conf",
            "append",
            "; callrec: ARI's HTTP server (merge into an existing [general]).\n"
            f"[general]\nenabled = yes\nbindaddr = {http_host}\nbindport = {http_port}\n",
        ),
        Snippet(
            "ari.conf",
            "append",
            "; callrec: ARI and its user (the password as a crypt hash where openssl exists).\n"
            "[general]\nenabled = yes\nwebsocket_write_timeout = 2000\n\n"
            f"[{a.ari_user}]\ntype = user\nread_only = no\npassword = {password_hash}\n"
            f"password_format = {password_format}\n",
        ),
        Snippet(
            "manager.conf",
            "append",
            "; callrec: AMI with least privilege (docs/DIALPLAN.md says which action needs\n"
            "; which class). Merge [general] into an existing one.\n"
            f"[general]\nenabled = yes\nbindaddr = {a.ami_host}\nport = {a.ami_port or 5038}\n"
            "timestampevents = yes\n"
            "channelvars = CALLREC_CALL_ID,CALLREC_ROUTE,CALLREC_STATUS,CALLREC_FALLBACK\n\n"
            f"[{a.ami_user}]\nsecret = {a.ami_secret}\ndeny = 0.0.0.0/0.0.0.0\n"
            f"permit = {a.ami_host}/255.255.255.255\nread = call,user\nwrite = call,system\n",
        ),
        Snippet(
            "extensions.conf",
            "append",
            "; callrec: at the end of the file, after your own contexts.\n"
            '#include "callrec/globals.conf"\n'
            '#include "callrec/callrec-agi.conf"\n'
            '#include "callrec/callrec-stasis.conf"\n',
        ),
        Snippet(
            "callrec/globals.conf",
            "new",
            "; callrec: where the dialplan finds this node.\n[globals]\n"
            f"CALLREC_APP = {a.app}\n"
            f"CALLREC_AGI = agi://{settings.agi.host}:{agi_port}\n"
            f"CALLREC_STASIS_FALLBACK = {settings.agi.fallback}\n"
            f"CALLREC_AGI_SECRET = {agi_secret}\n",
        ),
        Snippet(
            "cel.conf",
            "append",
            "; callrec: Asterisk's own record of each call (CEL over AMI), the ground truth\n"
            "; of capture verification (docs/VERIFICATION.md). Merge into existing sections.\n"
            + "[general]"
            + (sandbox.CONF_TEMPLATES / "cel.conf").read_text().split("[general]", 1)[1],
        ),
        Snippet("callrec/callrec-agi.conf", "new", _dialplan("callrec-agi.conf")),
        Snippet("callrec/callrec-stasis.conf", "new", _dialplan("callrec-stasis.conf")),
        Snippet(
            "features.conf",
            "append",
            "; callrec: the agent's DTMF features on dialplan-routed calls (merge into an\n"
            "; existing [applicationmap]; no [featuremap] key may use the same digits).\n"
            "[applicationmap]\n"
            f"callrec_toggle => {dtmf.toggle_record},self,Gosub(callrec-agi-dtmf,toggle,1)\n"
            f"callrec_pause => {dtmf.toggle_pause},self,Gosub(callrec-agi-dtmf,pause,1)\n",
        ),
        Snippet(
            "modules.conf",
            "append",
            "; callrec: only needed with `autoload = no`; merge into [modules].\n[modules]\n"
            + "".join(f"load => {m}\n" for m in MODULES),
        ),
    ]
    return out


def _dialplan(name: str) -> str:
    """A shipped dialplan file without the sandbox-only contexts."""
    text = (sandbox.DIALPLAN_DIR / name).read_text()
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        if line.startswith("["):
            skipping = bool(_TEST_CONTEXT.match(line))
            while skipping and kept and (not kept[-1].strip() or kept[-1].startswith(";")):
                kept.pop()  # the comment that introduces a skipped context
        if not skipping:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept) + "\n"


def render(items: list[Snippet], etc_dir: Path) -> str:
    """All snippets, each after a marker line naming its file and whether to append."""
    parts = []
    for s in items:
        action = "append to" if s.mode == "append" else "new file"
        parts.append(f"{MARK} {action} {etc_dir / s.path}\n{s.text}")
    return "\n".join(parts)


def parse(text: str) -> list[tuple[str, str, str]]:
    """(action, path, text) back from ``render``'s output."""
    found: list[tuple[str, str, str]] = []
    for chunk in text.split(MARK)[1:]:
        head, _, body = chunk.partition("\n")
        action, _, path = head.strip().rpartition(" ")
        found.append((action, path, body.rstrip("\n") + "\n"))
    return found
