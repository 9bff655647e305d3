"""The base of the app's screens: `self.app` is the KataApp (its progress store, clock,
jobs and catalog), said once here for the type checker; nothing changes at run time."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from textual.screen import Screen

if TYPE_CHECKING:
    from textual import getters

    from kata.tui.app import KataApp

ResultT = TypeVar("ResultT")


class AppScreen(Screen[ResultT]):
    if TYPE_CHECKING:
        app = getters.app(KataApp)
