"""Kata screen: the spec as Markdown and the actions of the learner's loop:
Start (copy the starter), Edit (suspend the app, run $VISUAL/$EDITOR), Grade,
hints one at a time (recorded), Solution once the kata passes, and an
auto-grade toggle that re-grades on every save of the workspace file.
"""

from __future__ import annotations

import os
import shlex
import subprocess

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
from kata.tui.code import CodeScreen
from kata.tui.grade import GradeScreen
from kata.tui.jobs import Job
from kata.watching import saves
from kata.workspace import kata_state, start_kata


class FileSaved(Message):
    """The workspace file was written (from the auto-grade watcher thread)."""


class WatchReady(Message):
    """The auto-grade watcher is live: saves from now on are seen."""


def editor_command() -> list[str]:
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


class KataScreen(Screen):
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("e", "edit", "Edit"),
        Binding("g", "grade", "Grade"),
        Binding("n", "hint", "Hint"),
        Binding("o", "solution", "Solution"),
        Binding("a", "autograde", "Auto-grade"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, kata_id: str):
        super().__init__()
        self.kata = load_kata(kata_id)
        self.path = workspace_file(kata_id)
        self.watcher: Job | None = None
        self.watch_live = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="kata-status")
        with VerticalScroll(id="spec"):
            yield Markdown(self.kata.spec_path.read_text(encoding="utf-8"))
        yield Static(id="hints")
        yield Footer(compact=True)

    def on_screen_resume(self) -> None:
        self.refresh_status()
        self.show_hints()
        self.query_one("#spec").focus()

    def refresh_status(self) -> None:
        state = kata_state(self.kata, self.app.store.has_passed(self.kata.id))
        auto = "off" if self.watcher is None else ("on" if self.watch_live else "starting")
        self.query_one("#kata-status", Static).update(
            f"{self.kata.id}: {state} · {len(self.hints())} hints · auto-grade {auto}\n{self.path}"
        )

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
        try:
            started = start_kata(self.kata)
        except UserError as err:
            self.notify(str(err), severity="warning", timeout=8)
            return
        self.notify(f"Started: edit {started.path} (e), then grade (g)")
        self.refresh_status()

    def action_edit(self) -> None:
        if not self.needs_started():
            return
        command = [*editor_command(), str(self.path)]
        try:
            with self.app.suspend():
                subprocess.run(command, check=False)
        except SuspendNotSupported:
            self.notify(f"This terminal cannot hand over to an editor: edit {self.path} yourself.", severity="warning")
        except OSError as err:
            self.notify(f"cannot run {command[0]}: {err.strerror} (set $VISUAL or $EDITOR)", severity="error")
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
        if not self.app.store.has_passed(self.kata.id):
            self.notify("The solution opens once your own file passes a full grade.", severity="warning")
            return
        code = self.kata.solution_path.read_text(encoding="utf-8")
        self.app.push_screen(CodeScreen(f"Reference solution of {self.kata.id}", code))

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
        self.notify(f"Start the kata first (s): {self.path} does not exist yet.", severity="warning")
        return False

    # --- auto-grade --------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="watch")
    def watch_saves(self, job: Job) -> None:
        with job as stop:
            for _ in saves(self.path, stop, on_ready=lambda: self.post_message(WatchReady())):
                self.post_message(FileSaved())

    def on_watch_ready(self) -> None:
        self.watch_live = True
        self.notify(f"auto-grade on: saving {self.path.name} grades it")
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
