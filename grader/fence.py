"""A seccomp filter that keeps the learner's processes from signalling the grader's own.

The test process installs it before pytest starts; every process the learner's
code forks or execs inherits it, and no process can remove it. Under it:

- kill(), tgkill(), rt_sigqueueinfo(), rt_tgsigqueueinfo() and pidfd_open() aimed
  at a protected process (the runner: `kata grade`, the TUI, the project's tests)
  fail with EPERM, and so do kill(-1) (every process of the user) and kill() of
  the runner's process group;
- tkill() (a thread by id: it cannot be told which process it belongs to),
  ptrace() and process_vm_readv/writev() always fail with EPERM, and
  pidfd_send_signal() with ENOSYS (a pidfd can be a /proc/<pid> folder, so its
  target cannot be told either; grader/proctree.py then signals by pid).

Why (docs/decisions.md, "Honest verdicts"): the runner is an ancestor of every
process of the run and runs as the same user, so without this any of them can
kill it; one re-parented to the runner (a child subreaper) once the supervisor
has died only has to signal its new parent. The supervisor stays reachable: its
death is a crash the runner explains. Everything else the katas need, signals
among the learner's own processes included, is untouched. Needs Linux seccomp
(x86-64 or arm64); elsewhere `install` raises FenceError and the grade carries
on unfenced, with a notice.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (the low half of args[0], little-endian)
_X32_BIT = 0x40000000


@dataclass(frozen=True)
class _Abi:
    audit_arch: int
    kill: int
    tkill: int
    tgkill: int
    rt_sigqueueinfo: int
    rt_tgsigqueueinfo: int
    ptrace: int
    process_vm_readv: int
    process_vm_writev: int
    pidfd_send_signal: int = 424
    pidfd_open: int = 434


_ABIS = {
    "x86_64": _Abi(0xC000003E, 62, 200, 234, 129, 297, 101, 310, 311),
    "aarch64": _Abi(0xC00000B7, 129, 130, 131, 138, 240, 117, 270, 271),
}


class FenceError(OSError):
    """The filter could not be installed (no seccomp, another architecture)."""


def install(protected: set[int], groups: set[int]) -> None:
    """Fence this process and all it will start off `protected` pids and process `groups`."""
    abi = _ABIS.get(platform.machine())
    if abi is None:
        raise FenceError(errno.ENOSYS, f"no seccomp filter for the {platform.machine()} architecture")
    program = _program(abi, protected, groups)
    filters = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in program))
    fprog = ctypes.create_string_buffer(struct.pack("HxxxxxxQ", len(program), ctypes.addressof(filters)))
    _prctl(PR_SET_NO_NEW_PRIVS, 1, None)  # lets a process that is not root install a filter
    _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog)


def _prctl(option: int, value: int, pointer: ctypes.Array[ctypes.c_char] | None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    zero = ctypes.c_ulong(0)
    if libc.prctl(option, ctypes.c_ulong(value), pointer, zero, zero) != 0:
        code = ctypes.get_errno()
        raise FenceError(code, f"seccomp could not be set up ({os.strerror(code)})")


def _program(abi: _Abi, protected: set[int], groups: set[int]) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jump if true, jump if false, k) instructions; jumps are resolved
    from labels, so that the layout reads top to bottom."""
    deny, no_such_call = "deny", "no such call"
    fenced = {abi.tgkill, abi.rt_sigqueueinfo, abi.rt_tgsigqueueinfo, abi.pidfd_open}
    refused = {abi.tkill, abi.ptrace, abi.process_vm_readv, abi.process_vm_writev}
    ops: list[tuple[int, str | int, str | int, int] | str] = [
        (_LD_ABS, 0, 0, _ARCH),
        (_JEQ, 0, deny, abi.audit_arch),  # another ABI (i386's int 0x80 on x86-64): none of it
        (_LD_ABS, 0, 0, _NR),
        (_JGE, deny, 0, _X32_BIT),  # x32 numbers carry this bit: none of them either
        (_JEQ, "kill", 0, abi.kill),
        *((_JEQ, "target", 0, nr) for nr in sorted(fenced)),
        *((_JEQ, deny, 0, nr) for nr in sorted(refused)),
        (_JEQ, no_such_call, 0, abi.pidfd_send_signal),
        (_RET, 0, 0, _ALLOW),
        "kill",
        (_LD_ABS, 0, 0, _ARG0),
        *((_JEQ, deny, 0, (-pgid) & 0xFFFFFFFF) for pgid in sorted({1, *groups})),  # -1: everyone
        "target",
        (_LD_ABS, 0, 0, _ARG0),
        *((_JEQ, deny, 0, pid) for pid in sorted(protected)),
        (_RET, 0, 0, _ALLOW),
        deny,
        (_RET, 0, 0, _ERRNO | errno.EPERM),
        no_such_call,
        (_RET, 0, 0, _ERRNO | errno.ENOSYS),
    ]
    labels: dict[str, int] = {}
    count = 0
    for op in ops:
        if isinstance(op, str):
            labels[op] = count
        else:
            count += 1
    program: list[tuple[int, int, int, int]] = []
    for op in ops:
        if isinstance(op, str):
            continue
        here = len(program)
        code, true, false, k = op
        program.append((code, _offset(true, labels, here), _offset(false, labels, here), k))
    return program


def _offset(target: str | int, labels: dict[str, int], here: int) -> int:
    if isinstance(target, int):
        return target
    offset = labels[target] - here - 1
    if not 0 <= offset <= 255:
        raise ValueError(f"seccomp jump to {target!r} out of reach ({offset})")
    return offset
