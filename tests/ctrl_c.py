"""Run Python code or a module with Ctrl-C restored: ``python ctrl_c.py -m MODULE ARGS...`` or ``-c CODE``.

A non-interactive shell starts a background job with SIGINT ignored, its children inherit that, and Python
then installs no KeyboardInterrupt handler (and a shell cannot reset a signal it was started ignoring). The
tests that press Ctrl-C on a real process start it through this file, so that they test the program, not the
way the test run itself was launched.
"""

import runpy
import signal
import sys

signal.signal(signal.SIGINT, signal.default_int_handler)
flag, target, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
if flag == "-m":
    sys.argv = [target, *rest]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
elif flag == "-c":
    sys.argv = ["-c", *rest]
    exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
else:
    sys.exit(f"usage: python {sys.argv[0]} -m MODULE ARGS... | -c CODE")
