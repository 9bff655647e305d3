"""`kata` with no command: the app's front door.

The Textual TUI (issue "The Textual TUI") is not built yet; until it is, the
front door prints the kata list and the commands of the learner's loop, so the
README's "open the app" command always lands somewhere useful.
"""
from __future__ import annotations

WELCOME = """\
ipc-kata: interview prep for Unix IPC.

The learner's loop:
  kata start <kata>     copy the starter to your workspace and read the spec
  kata grade <kata>     run the hidden suite against your file (after each save)
  kata hint <kata>      the next hint, from a nudge to nearly the answer
  kata solution <kata>  the reference, once you pass
  kata --help           every command
"""


def open_app() -> int:
    from kata.commands.katas import print_kata_list

    print(WELCOME)
    return print_kata_list()
