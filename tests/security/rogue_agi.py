"""A rogue FastAGI client: speaks to callrec's FastAGI port as Asterisk would.

It plays Asterisk's side of the protocol: sends the request headers it likes
(any script, channel, unique id, arguments), then answers every command
callrec sends with ``200 result=1`` and, for GET FULL VARIABLE, the value it
chooses. Used to prove that a process on the host that can reach the port
but does not know the install's secret changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib


async def rogue_request(
    port: int,
    script: str,
    *,
    uniqueid: str,
    channel: str,
    variables: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    timeout: float = 5.0,
) -> list[str]:
    """Run one fake AGI session; returns the commands callrec sent (empty: refused)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:{port}/{script}",
        "agi_channel": channel,
        "agi_uniqueid": uniqueid,
        "agi_type": "Local",
        "agi_callerid": "rogue",
    }
    for n, arg in enumerate(args, 1):
        headers[f"agi_arg_{n}"] = arg
    commands: list[str] = []
    variables = variables or {}
    try:
        writer.write("".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n")
        await writer.drain()
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line:
                break
            command = line.decode().strip()
            commands.append(command)
            value = next((v for k, v in variables.items() if k in command), None)
            if command.startswith("GET FULL VARIABLE") and value is not None:
                writer.write(f"200 result=1 ({value})\n".encode())
            else:
                writer.write(b"200 result=1\n")
            await writer.drain()
    except ConnectionError:
        pass  # the server hung up on us: refused (or done)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    return commands
