"""Names of the system calls a blocked IPC program sits in, per architecture.

`/proc/<pid>/syscall` gives a number, and numbers differ between architectures:
x86_64 keeps its historical table, aarch64 (and riscv64) use the generic one.
Only the calls a process can block in are named; any other number is shown as
"syscall N" and the wait-for graph says it does not understand that wait.
"""

from __future__ import annotations

import platform

_X86_64 = {
    0: "read",
    1: "write",
    2: "open",
    7: "poll",
    17: "pread64",
    19: "readv",
    20: "writev",
    23: "select",
    34: "pause",
    35: "nanosleep",
    42: "connect",
    43: "accept",
    44: "sendto",
    45: "recvfrom",
    46: "sendmsg",
    47: "recvmsg",
    61: "wait4",
    65: "semop",
    69: "msgsnd",
    70: "msgrcv",
    72: "fcntl",
    73: "flock",
    128: "rt_sigtimedwait",
    130: "rt_sigsuspend",
    202: "futex",
    220: "semtimedop",
    230: "clock_nanosleep",
    232: "epoll_wait",
    242: "mq_timedsend",
    243: "mq_timedreceive",
    247: "waitid",
    257: "openat",
    270: "pselect6",
    271: "ppoll",
    281: "epoll_pwait",
    288: "accept4",
    441: "epoll_pwait2",
    449: "futex_waitv",
}

# include/uapi/asm-generic/unistd.h: aarch64, riscv64, loongarch64
_GENERIC = {
    22: "epoll_pwait",
    25: "fcntl",
    32: "flock",
    56: "openat",
    63: "read",
    64: "write",
    65: "readv",
    66: "writev",
    67: "pread64",
    72: "pselect6",
    73: "ppoll",
    95: "waitid",
    98: "futex",
    101: "nanosleep",
    115: "clock_nanosleep",
    133: "rt_sigsuspend",
    137: "rt_sigtimedwait",
    182: "mq_timedsend",
    183: "mq_timedreceive",
    188: "msgrcv",
    189: "msgsnd",
    192: "semtimedop",
    193: "semop",
    202: "accept",
    203: "connect",
    206: "sendto",
    207: "recvfrom",
    211: "sendmsg",
    212: "recvmsg",
    242: "accept4",
    260: "wait4",
    441: "epoll_pwait2",
    449: "futex_waitv",
}

_TABLES = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _GENERIC, "arm64": _GENERIC, "riscv64": _GENERIC}


def table(machine: str | None = None) -> dict[int, str]:
    """The number -> name table of this machine; empty for an architecture we have no table for."""
    return _TABLES.get((machine or platform.machine()).lower(), {})


def name(number: int, machine: str | None = None) -> str:
    """'read', or 'syscall 999' for a number we do not name."""
    return table(machine).get(number, f"syscall {number}")
