"""What exit codes and termination reasons mean, in the words an SRE uses.

Exit codes above 128 are 128 + the signal number; a handful of low codes have conventional meanings
(126 not executable, 127 not found, 128 the runtime could not start the process).
"""

from __future__ import annotations

_SIGNALS = {
    1: "SIGHUP",
    2: "SIGINT",
    3: "SIGQUIT",
    4: "SIGILL",
    6: "SIGABRT",
    7: "SIGBUS",
    8: "SIGFPE",
    9: "SIGKILL",
    11: "SIGSEGV",
    13: "SIGPIPE",
    15: "SIGTERM",
}

_LOW_CODES = {
    0: "exited normally",
    1: "application error",
    2: "misuse of shell builtin / Go panic",
    126: "command cannot execute (permission or not executable)",
    127: "command not found",
    128: "container runtime could not start the process",
}

_SIGNAL_MEANING = {
    9: "killed: out of memory, or by the kubelet after a failed probe or grace period",
    15: "terminated: stopped by the kubelet, e.g. after a failed liveness probe",
    11: "segmentation fault",
    6: "aborted",
    7: "bus error",
}


def signal_of(exit_code: int | None) -> int | None:
    """The signal number behind an exit code > 128, else None."""
    if exit_code is None or exit_code <= 128 or exit_code > 128 + 64:
        return None
    return exit_code - 128


def describe_exit(exit_code: int | None, signal: int | None = None) -> str:
    """A short human meaning of an exit code, e.g. `137 = SIGKILL: killed …`."""
    if exit_code is None:
        return "no exit code"
    sig = signal or signal_of(exit_code)
    if sig is not None:
        name = _SIGNALS.get(sig, f"signal {sig}")
        meaning = _SIGNAL_MEANING.get(sig, f"terminated by {name}")
        return f"{exit_code} = {name}: {meaning}"
    return f"{exit_code}: {_LOW_CODES.get(exit_code, 'application exited with an error')}"
