"""The `pipe` kata: anonymous pipes between a parent and its children.

Read the spec first: `kata start pipe` printed where it is, or `kata show pipe`.
Run `kata grade pipe` after each step; every task is graded on its own.
Only the standard library is needed (os, hashlib, select).
"""

from __future__ import annotations

import hashlib


def work(task: bytes) -> bytes:
    """What a worker computes for one task in `gather` (given: do not change)."""
    return hashlib.sha256(task).digest() + task[::-1]


def child_to_parent(payload: bytes) -> bytes:
    """Fork a child that writes `payload` into a pipe; the parent reads everything
    until EOF, reaps the child and returns the bytes it read.

    The payload may be empty, binary, or many times larger than the pipe buffer.
    """
    raise NotImplementedError


def round_trip_digest(payload: bytes) -> str:
    """Send `payload` to a child over one pipe; the child answers with the sha256
    hex digest of what it received over a second pipe. Return that answer (str).
    """
    raise NotImplementedError


def gather(tasks: list[bytes], workers: int) -> list[bytes]:
    """Run `work(task)` for every task in at most `workers` child processes and
    return the results in task order. Each result comes back through a pipe and
    may be larger than the pipe buffer.
    """
    raise NotImplementedError
