"""A thin, checked layer over one FastAGI session (panoramisk's Request).

Values we send are our own (ids, decisions, paths built from hex ids); they
are still checked for quotes and line breaks, which would let a value end
the AGI command and start another.
"""

from __future__ import annotations

from typing import Any

_FORBIDDEN = ('"', "\n", "\r", "\\")


class AgiError(RuntimeError):
    """Asterisk refused an AGI command, or the channel hung up meanwhile."""


def _check(text: str) -> str:
    if any(c in text for c in _FORBIDDEN):
        raise ValueError("quote, backslash or line break in an AGI argument")
    return text


class AgiChannel:
    """The channel an AGI request runs on, with the few commands callrec uses."""

    def __init__(self, request: Any) -> None:
        self.request = request
        headers: dict[str, str] = request.headers
        self.name: str = headers.get("agi_channel", "")
        self.uniqueid: str = headers.get("agi_uniqueid", "")
        self.script: str = headers.get("agi_network_script", "")

    async def _send(self, command: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request.send_command(command)
        if "error" in result:
            raise AgiError(f"{command.split(' ', 1)[0]}: {result.get('msg') or result['error']}")
        return result

    async def get(self, expression: str) -> str:
        """Evaluate ``expression`` (may hold ${...}) on the channel."""
        # Asterisk's AGI parser unescapes backslashes inside quotes: double them.
        _check(expression.replace("\\", ""))  # quotes and line breaks stay refused
        escaped = expression.replace("\\", "\\\\")
        result = await self._send(f'GET FULL VARIABLE "{escaped}"')
        value, data = result.get("result", ("0", ""))
        return str(data) if value == "1" else ""

    async def set(self, name: str, value: str) -> None:
        await self._send(f'SET VARIABLE {_check(name)} "{_check(value)}"')

    async def exec(self, app: str, data: str = "") -> str:
        result = await self._send(f'EXEC {_check(app)} "{_check(data)}"')
        value, _ = result.get("result", ("0", ""))
        return str(value)
