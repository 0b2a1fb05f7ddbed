"""Stop chosen threads of a running process for a while; the rest runs on.

A saturated host delays some threads and not others. To reproduce what that
does to a capture, stop exactly the threads that carry the parties' audio
(for example the bridge threads of one call) while the parties' own threads
and the recorders keep their clocks:

    asterisk -rx "core show threads"          # LWP and start routine of each thread
    sudo .venv/bin/python bench/stall_threads.py 0.9 <lwp> [<lwp> ...]

In Asterisk 22 a channel in a Stasis bridge is served by a
``bridge_channel_depart_thread``; in a dialplan ``Dial()`` the caller by its
own thread (``ari_originate_dial`` when originated over ARI, else
``pbx_thread``) and the callee by a ``bridge_channel_ind_thread``. Uses
PTRACE_SEIZE and PTRACE_INTERRUPT, which stop one thread without a signal
(a SIGSTOP would stop the whole process); Linux only, and needs the right to
trace the process (root, or ptrace_scope 0 and the same user).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import time

PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 0x4206, 0x4207, 17
WALL = 0x40000000  # waitpid __WALL: wait for threads too


def stall(seconds: float, tids: list[int]) -> float:
    """Stop ``tids`` for ``seconds``; return the epoch time they stopped at."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    seized: list[int] = []
    try:
        for tid in tids:
            if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
                raise OSError(ctypes.get_errno(), f"cannot trace thread {tid}")
            seized.append(tid)
        for tid in seized:
            libc.ptrace(PTRACE_INTERRUPT, tid, None, None)
        for tid in seized:
            os.waitpid(tid, WALL)
        stopped = time.time()
        time.sleep(seconds)
        return stopped
    finally:
        for tid in seized:
            libc.ptrace(PTRACE_DETACH, tid, None, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", type=float)
    parser.add_argument("tids", type=int, nargs="+", help="thread ids (LWP)")
    args = parser.parse_args()
    try:
        stopped = stall(args.seconds, args.tids)
    except OSError as exc:
        print(f"stall: {exc.strerror}: {exc}", file=sys.stderr)
        return 1
    print(f"stopped {args.tids} at {stopped:.6f} for {args.seconds} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
