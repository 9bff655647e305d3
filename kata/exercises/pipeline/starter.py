"""The `pipeline` kata: the shell's `a | b | c`, built from os.pipe, os.fork, os.dup2,
os.execvp and os.waitpid.

Read the spec first: `kata start pipeline` printed where it is, or `kata show pipeline`.
Run `kata grade pipeline` after each step; every task is graded on its own.
Only the standard library is needed (os, select or threading, signal); no subprocess,
no shell.
"""

from __future__ import annotations


def run_pipeline(commands: list[list[str]], stdin: bytes = b"") -> tuple[bytes, list[int]]:
    """Run `commands[0] | commands[1] | ...` and return (stdout of the last command,
    one return code per command in command order).

    `stdin` is written to the first command's stdin, which is then closed (EOF).
    Each command is an argv list run with os.execvp (found on $PATH). A return code
    is the exit status, minus the signal number for a command killed by a signal,
    127 for a command found nowhere (not at its path, in no $PATH directory) and 126 for
    one that exists but cannot be executed.
    Raise ValueError for an empty list of commands.
    """
    raise NotImplementedError
