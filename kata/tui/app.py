"""The app: modes for the four top-level screens, global keys, the command
palette, and the shared things screens need (progress store, background jobs).

Home, Quiz, Katas and Stats are Textual modes, so each keeps its own stack
(Katas -> Kata -> Grade) while the learner hops between them. The keys h, u, k, t
open a section's own screen: the pages opened from it (a kata, a grade) close, and
only a quiz in progress keeps its place (`u` comes back to it). While a question is
on screen those letters, and q, are the quiz's (a screen says so with
`captures_keys`); ctrl+q always quits. Quitting stops every background job first:
a grading run's processes never outlive the app.
Only Home is imported at launch; the other screens (Markdown, syntax
highlighting, the grader) are imported when first shown, for a fast first frame.
"""

from __future__ import annotations

import asyncio
import importlib
import signal
from collections.abc import Callable
from datetime import datetime
from functools import cached_property, partial
from textwrap import shorten
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from grader.catalog import KataDef, all_katas
from kata.progress import ProgressStore, utcnow
from kata.tui.help import HelpScreen
from kata.tui.home import HomeScreen
from kata.tui.jobs import Jobs
from kata.tui.terminal import TerminalGone


def palette_help(kata: KataDef) -> str:
    """The line under a kata's palette entry: its summary, cut at a word to fit one line at 80 columns."""
    return shorten(kata.summary, 70, placeholder=" …", break_on_hyphens=False)


def lazy(module: str, name: str) -> Callable[[], Screen[Any]]:
    """A mode's screen, its module imported on the first visit."""
    return lambda: getattr(importlib.import_module(f"kata.tui.{module}"), name)()


class Everywhere(Provider):
    """Palette entries: every screen, and every kata by id and title."""

    def _entries(self) -> list[tuple[str, Callable[[], object], str]]:
        app: KataApp = self.app  # type: ignore[assignment]
        entries: list[tuple[str, Callable[[], object], str]] = [
            (f"Go to {mode.title()}", partial(app.run_action, f"section('{mode}')"), f"the {mode} screen")
            for mode in app.MODES
        ]
        entries.append(("Help", app.action_help, "keys of this screen and of the app"))
        entries += [(f"Kata {k.id}: {k.title}", partial(app.open_kata, k.id), palette_help(k)) for k in app.katas]
        return entries

    async def discover(self) -> Hits:
        for name, run, help_text in self._entries():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, help_text in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)


class KataApp(App[int]):
    TITLE = "ipc-kata"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {Everywhere}
    MODES = {
        "home": HomeScreen,
        "quiz": lazy("quiz_menu", "QuizMenuScreen"),
        "katas": lazy("katas", "KatasScreen"),
        "stats": lazy("stats", "StatsScreen"),
    }
    BINDINGS = [
        Binding("h", "section('home')", "Home", show=False),
        Binding("u", "section('quiz')", "Quiz (the one in progress, else the menu)", show=False),
        Binding("k", "section('katas')", "Katas", show=False),
        Binding("t", "section('stats')", "Stats", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit_anyway", "Quit, even while typing or answering", show=False, priority=True),
    ]

    def __init__(
        self,
        store: ProgressStore,
        *,
        clock: Callable[[], datetime] = utcnow,
        quit_on_hangup: bool = False,
        **kwargs: Any,
    ):
        """`clock`: what "now" is for due questions, streaks and charts (KATA_NOW, or fixed in snapshots).
        `quit_on_hangup`: SIGHUP and SIGTERM quit as q does; set by the app in a terminal only, so that
        tests driving the app keep their process's handlers."""
        super().__init__(**kwargs)
        self.store = store
        self.clock = clock
        self.jobs = Jobs()
        self.quit_on_hangup = quit_on_hangup

    @cached_property
    def katas(self) -> list[KataDef]:
        """The catalog, read once: Home, Katas and the palette all list it, on every visit."""
        return all_katas()

    def on_mount(self) -> None:
        if self.quit_on_hangup:
            self._quit_on_signals()
        self.switch_mode("home")

    def _quit_on_signals(self) -> None:
        """A closed terminal (SIGHUP) or `kill` (SIGTERM) quits as q does, exit status 128 + the signal.
        The CLI's handler (a KeyboardInterrupt, kata/cli.py) skips Textual's shutdown: its input thread
        went on reading the dead terminal, which answers "end of file" at once, forever, and the process
        stayed, spinning, after its terminal was gone. A signal ignored (nohup) stays ignored."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                loop.add_signal_handler(sig, partial(self.call_later, self._stop_jobs_and_exit, 128 + sig))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Section keys and q belong to a screen that captures keys (a quiz question)."""
        return not (action in ("section", "quit") and getattr(self.screen, "captures_keys", False))

    async def action_section(self, mode: str) -> None:
        """A section's own screen: pages opened from it close, a quiz in progress stays."""
        if mode != self.current_mode:
            await self.switch_mode(mode)
        while len(self.screen_stack) > 1 and not getattr(self.screen, "keeps_place", False):
            await self.pop_screen()

    def open_kata(self, kata_id: str) -> None:
        from kata.tui.kata import KataScreen

        self.push_screen(KataScreen(kata_id))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        await self._stop_jobs_and_exit()

    async def on_terminal_gone(self, message: TerminalGone) -> None:
        """Nothing drawn reaches anyone (kata/tui/terminal.py): quit as a closed terminal's SIGHUP does."""
        await self._stop_jobs_and_exit(128 + signal.SIGHUP)

    async def _stop_jobs_and_exit(self, return_code: int = 0) -> None:
        """Cancel grading runs and watchers, wait for their cleanup (off the UI thread), then exit."""
        await asyncio.to_thread(self.jobs.stop_all)
        self.exit(return_code=return_code)

    async def action_quit_anyway(self) -> None:
        """ctrl+q: a quit that no screen captures (q is the quiz's while a question is on screen)."""
        await self.action_quit()
