"""`kata` with no command: the Textual TUI (kata.tui) in a terminal.

Without a terminal (a pipe, a script, CI) there is nothing to draw on, so the
front door prints the kata list and the commands of the learner's loop instead.
The progress store is opened before Textual starts, so a damaged store ends
as the CLI's one-line error (exit 2) rather than a broken screen. Textual is
imported here, lazily, to keep every other verb fast.
"""

from __future__ import annotations

import sys

WELCOME = """\
ipc-kata: interview prep for Unix IPC. (Run `kata` in a terminal for the app.)

The learner's loop:
  kata start <kata>     copy the starter to your workspace and read the spec
  kata grade <kata>     run the hidden suite against your file (after each save)
  kata watch <kata>     re-grade on every save
  kata hint <kata>      the next hint, from a nudge to nearly the answer
  kata solution <kata>  the reference, once you pass
  kata --help           every command
"""


def open_app() -> int:
    from kata.progress import ProgressStore

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        from kata.commands.katas import print_kata_list

        print(WELCOME)
        return print_kata_list()
    with ProgressStore.open() as store:
        from kata.quiz.session import clock_from_env
        from kata.tui.app import KataApp
        from kata.tui.terminal import TerminalDriver

        app = KataApp(store, clock=clock_from_env(), quit_on_hangup=True, driver_class=TerminalDriver)
        app.run()
        app.jobs.stop_all()  # however the app ended, no grading run outlives it
    return app.return_code or 0
