"""A warm interpreter that runs each documentation block in a fresh forked process.

Started once per test process by ``tests/tooling/test_docs.py``: it imports the
frameworks the blocks use (the seconds each block would spend importing them),
then, for each request read from stdin (one JSON line: ``code``, ``cwd``, ``env``,
``stdout``, ``stderr``, ``timeout``), forks a child that runs ``code`` as
``python -c`` would, in its own process (its own globals, framework state, warning
filters and exit code), and answers one JSON line ``{"rc": ...}``.  Only imports
are done before forking (no framework computes or starts threads here), so each
child starts from a clean library state.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import traceback


def _child(request: dict) -> int:
    out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.stdout = sys.__stdout__  # fd 1, now the block's output file
    sys.argv = ["-c"]
    sys.path[0] = ""  # as ``python -c``: the working directory first
    signal.alarm(int(request["timeout"]))
    try:
        exec(compile(request["code"], "<string>", "exec"), {"__name__": "__main__"})
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def main() -> None:
    for name in sys.argv[1:]:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # not installed here: the block that needs it skips or fails on its own
    answer = sys.stdout
    sys.stdout = sys.stderr  # the protocol owns the real stdout
    answer.write(json.dumps({"ready": True}) + "\n")
    answer.flush()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        answer.write(json.dumps({"rc": rc}) + "\n")
        answer.flush()


if __name__ == "__main__":
    main()
