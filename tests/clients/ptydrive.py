#!/usr/bin/env python3
"""Run a command on a new pseudo-terminal, as a user at a terminal would.

    ptydrive.py --expect MARK --send TEXT [--timeout S] -- COMMAND [ARG...]

COMMAND gets a pty as its stdin, stdout and stderr (and as its controlling terminal). When
MARK appears in what it writes, TEXT (with `\\n` escapes turned into newlines) is typed once.
Everything COMMAND wrote is printed, then a last line `PTYDRIVE-EXIT <code>`: its exit code,
or `PTYDRIVE-EXIT timeout` when it ran longer than S seconds (it is then killed).

The client tests use it for `ctr run -t`, `podman run -it` and `docker run -it`, which refuse
to run without a terminal.
"""
import argparse
import os
import pty
import select
import signal
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--expect", default="")
    p.add_argument("--send", default="")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args()
    argv = a.command[1:] if a.command[:1] == ["--"] else a.command
    send = a.send.replace("\\n", "\n").encode()

    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)

    out = b""
    sent = not a.expect
    if sent and send:
        os.write(fd, send)
    deadline = time.time() + a.timeout
    timed_out = False
    while True:
        if time.time() > deadline:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not data:
                break
            out += data
        if not sent and a.expect.encode() in out:
            os.write(fd, send)
            sent = True
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(out.decode(errors="replace"))
    if timed_out:
        print("\nPTYDRIVE-EXIT timeout")
    else:
        print("\nPTYDRIVE-EXIT %d" % os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
