"""Kata screen: the spec as Markdown and the actions of the learner's loop:
Start (copy the starter; over existing work only after a yes, keeping a backup),
Edit (suspend the app, run $VISUAL/$EDITOR), Grade, hints one at a time
(recorded), the Solution and a Diff of your file against it once the kata
passes, and an auto-grade toggle that re-grades on every save of the workspace
file. Pop-ups name the file, not its path (the status line shows the path).
Under the status line, once a grade measured them, the kata's perf metrics across
attempts (kata.perf_history): the latest ratios as a sparkline, the best in words.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Markdown, Static

from grader.catalog import CatalogError, load_kata
from kata.errors import UserError
from kata.paths import workspace_file
from kata.perf_history import as_data
from kata.tui.bars import history_chart
from kata.tui.base import AppScreen
from kata.tui.code import CodeScreen, DiffScreen
from kata.tui.confirm import ConfirmScreen
from kata.tui.grade import GradeScreen
from kata.tui.jobs import Job
from kata.watching import saves
from kata.workspace import WorkExists, kata_state, start_kata


class FileSaved(Message):
    """The workspace file was written (from the auto-grade watcher thread)."""


class WatchReady(Message):
    """The auto-grade watcher is live: saves from now on are seen."""


def editor_command() -> list[str]:
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def edit_file(screen: Screen[Any], path: Path) -> None:
    """Hand the terminal to the learner's editor on `path`, then take it back."""
    command = [*editor_command(), str(path)]
    try:
        with screen.app.suspend():
            subprocess.run(command, check=False)
    except SuspendNotSupported:
        screen.notify(f"This terminal cannot hand over to an editor: edit {path.name} yourself.", severity="warning")
    except OSError as err:
        screen.notify(f"cannot run {command[0]}: {err.strerror} (set $VISUAL or $EDITOR)", severity="error")


class KataScreen(AppScreen[None]):
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("e", "edit", "Edit"),
        Binding("g", "grade", "Grade"),
        Binding("n", "hint", "Hint"),
        Binding("o", "solution", "Solution"),
        Binding("d", "diff", "Your file next to the reference", show=False),
        Binding("a", "autograde", "Auto-grade"),
        Binding("escape", "back", "Back", show=False),
    ]
    HELP = "o (the reference) and d (your file next to it) open once your own file passes a full grade."

    def __init__(self, kata_id: str):
        super().__init__()
        self.kata = load_kata(kata_id)
        self.path = workspace_file(kata_id)
        self.watcher: Job | None = None
        self.watch_live = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="kata-status")
        yield Static(id="perf-history")
        with VerticalScroll(id="spec"):
            yield Markdown(self.kata.spec_path.read_text(encoding="utf-8"))
        yield Static(id="hints")
        yield Footer(compact=True)

    def on_screen_resume(self) -> None:
        self.refresh_status()
        self.show_hints()
        self.query_one("#spec").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The solution and the diff are out of the footer until the kata passes."""
        if action in ("solution", "diff"):
            return self.passed
        return True

    @property
    def passed(self) -> bool:
        return self.app.store.has_passed(self.kata.id)

    def refresh_status(self) -> None:
        state = kata_state(self.kata, self.passed)
        auto = "off" if self.watcher is None else ("on" if self.watch_live else "starting")
        locked = "" if self.passed else " · solution after a pass"
        self.query_one("#kata-status", Static).update(
            f"{self.kata.id}: {state} · {len(self.hints())} hints · auto-grade {auto}{locked}\n{self.path}"
        )
        self.show_perf_history()
        self.refresh_bindings()

    def show_perf_history(self) -> None:
        metrics = as_data(self.app.store.perf_history(self.kata.id))
        widget = self.query_one("#perf-history", Static)
        widget.display = bool(metrics)
        title = Text("Perf across your grades (ratio to the same-run baseline, latest on the right)\n", style="bold")
        widget.update(title + history_chart(metrics, indent=""))

    def show_hints(self) -> None:
        hints = self.hints()
        shown = self.app.store.hints_revealed(self.kata.id)
        widget = self.query_one("#hints", Static)
        widget.display = bool(shown)
        widget.update("\n".join(f"Hint {i + 1}/{len(hints)}: {hints[i]}" for i in range(min(shown, len(hints)))))

    def hints(self) -> list[str]:
        try:
            return self.kata.hints()
        except CatalogError as err:
            self.notify(str(err), severity="error")
            return []

    # --- actions -------------------------------------------------------------------

    def action_start(self) -> None:
        self.start(force=False)

    def start(self, *, force: bool) -> None:
        try:
            started = start_kata(self.kata, force=force)
        except WorkExists:
            question = (
                f"{self.path.name} already holds your work. Start over from the starter? "
                "Your file is kept next to it as a .bak."
            )
            self.app.push_screen(ConfirmScreen(question), callback=self.start_over)
            return
        except UserError as err:
            self.notify(str(err), severity="error", timeout=8)
            return
        kept = f" (your old file is kept as {started.backup.name})" if started.backup else ""
        self.notify(f"Started: e edits {started.path.name}, g grades it{kept}.")
        self.refresh_status()

    def start_over(self, yes: bool | None) -> None:
        if yes:
            self.start(force=True)

    def action_edit(self) -> None:
        if self.needs_started():
            edit_file(self, self.path)
            self.refresh_status()

    def action_grade(self) -> None:
        if self.needs_started():
            self.app.push_screen(GradeScreen(self.kata.id, self.path))

    def action_hint(self) -> None:
        hints = self.hints()
        if not hints:
            self.notify(f"{self.kata.id} has no hints")
            return
        shown = self.app.store.hints_revealed(self.kata.id)
        if shown >= len(hints):
            self.notify("That was the last hint; the solution opens once you pass.")
            return
        self.app.store.reveal_hint(self.kata.id, shown)
        self.show_hints()

    def action_solution(self) -> None:
        if self.needs_passed():
            code = self.kata.solution_path.read_text(encoding="utf-8")
            self.app.push_screen(CodeScreen(f"Reference solution of {self.kata.id}", code, diff=self.action_diff))

    def action_diff(self) -> None:
        if self.needs_passed() and self.needs_started():
            mine = self.path.read_text(encoding="utf-8", errors="replace")
            reference = self.kata.solution_path.read_text(encoding="utf-8")
            self.app.push_screen(DiffScreen(f"{self.path.name} next to the reference", mine, reference))

    def needs_passed(self) -> bool:
        if self.passed:
            return True
        self.notify("The solution opens once your own file passes a full grade (g).", severity="warning")
        return False

    def action_autograde(self) -> None:
        if self.watcher is not None:
            self.stop_watching()
            self.notify("auto-grade off")
        elif self.needs_started():
            self.watcher = self.app.jobs.start()
            self.watch_saves(self.watcher)
        self.refresh_status()

    def action_back(self) -> None:
        self.dismiss()

    def needs_started(self) -> bool:
        if self.path.exists():
            return True
        self.notify(f"Start the kata first (s): {self.path.name} does not exist yet.", severity="warning")
        return False

    # --- auto-grade --------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="watch")
    def watch_saves(self, job: Job) -> None:
        with job as stop:
            for _ in saves(self.path, stop, on_ready=self.watching):
                self.post_message(FileSaved())

    def watching(self) -> None:
        """From the watcher thread: it is live."""
        self.post_message(WatchReady())

    def on_watch_ready(self) -> None:
        self.watch_live = True
        self.notify(f"Auto-grade on: saving {self.path.name} grades it.")
        self.refresh_status()

    def on_file_saved(self) -> None:
        top = self.app.screen
        if isinstance(top, GradeScreen) and top.kata_id == self.kata.id:
            top.start()
        elif top is self:
            self.action_grade()

    def stop_watching(self) -> None:
        if self.watcher is not None:
            self.watcher.stop.set()
            self.watcher = None
            self.watch_live = False

    def on_unmount(self) -> None:
        self.stop_watching()
