"""`kata list|start|show|hint|solution`: browse the katas and work on one."""

from __future__ import annotations

import argparse

from grader.catalog import all_katas
from kata.catalog import find_kata
from kata.commands import Subparsers, add_verb, add_workspace_option, readable_store
from kata.errors import UserError


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    listing = add_verb(subparsers, "list", _list)
    add_workspace_option(listing)

    start = add_verb(subparsers, "start", _start)
    start.add_argument("kata", help="kata id (see `kata list`)")
    start.add_argument("--workspace", metavar="DIR", help="folder for your file (default: $KATA_HOME/workspace)")
    start.add_argument("--force", action="store_true", help="replace an existing file (the old one is kept as .bak)")

    show = add_verb(subparsers, "show", _show)
    show.add_argument("kata", help="kata id")

    hint = add_verb(subparsers, "hint", _hint)
    hint.add_argument("kata", help="kata id")
    hint.add_argument("--all", action="store_true", help="show again the hints revealed so far (reveals none)")

    solution = add_verb(subparsers, "solution", _solution)
    solution.add_argument("kata", help="kata id")
    solution.add_argument("--force", action="store_true", help="show it even though you have not passed yet")
    solution.add_argument("--diff", action="store_true", help="your file and the reference side by side")
    add_workspace_option(solution)


def _list(args: argparse.Namespace) -> int:
    """list the katas and your state in each"""
    return print_kata_list(args.workspace)


def print_kata_list(workspace: str | None = None) -> int:
    """The kata table with the learner's state in each (also the app's front door)."""
    from kata.workspace import kata_state

    katas = all_katas()
    with readable_store() as store:
        rows = [
            (k.id, "*" * k.difficulty, kata_state(k, store.has_passed(k.id), workspace=workspace), k.title)
            for k in katas
        ]
    widths = [max(len(row[i]) for row in [*rows, ("kata", "level", "state", "")]) for i in range(3)]
    print(f"{'kata':<{widths[0]}}  {'level':<{widths[1]}}  {'state':<{widths[2]}}  title")
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    print("\n`kata start <kata>` to begin one, `kata grade <kata>` to grade it.")
    return 0


def _start(args: argparse.Namespace) -> int:
    """copy a kata's starter into your workspace and show its spec

    Copy the starter of KATA to your workspace (never over existing work unless --force, which keeps a backup) and
    print the spec.
    """
    from kata.workspace import start_kata

    kata = find_kata(args.kata)
    started = start_kata(kata, workspace=args.workspace, force=args.force)
    print(kata.spec_path.read_text(encoding="utf-8"))
    print("-" * 72)
    if started.backup:
        print(f"Your previous file was kept as {started.backup}")
    grade = f"kata grade {kata.id}" + (f" --workspace {args.workspace}" if args.workspace else "")
    print(f"Started {kata.id}: edit {started.path}\nthen run `{grade}` (and `kata hint {kata.id}` when stuck).")
    return 0


def _show(args: argparse.Namespace) -> int:
    """print a kata's spec"""
    kata = find_kata(args.kata)
    print(kata.spec_path.read_text(encoding="utf-8"))
    return 0


def _hint(args: argparse.Namespace) -> int:
    """reveal the next hint of a kata (recorded in your progress)

    Reveal the next hint; hints go from a nudge to nearly the answer.
    """
    from kata.progress import ProgressStore

    kata = find_kata(args.kata)
    hints = kata.hints()
    if not hints:
        raise UserError(f"kata {kata.id} has no hints")
    if args.all:
        with readable_store() as store:
            shown = range(min(store.hints_revealed(kata.id), len(hints)))
        if not shown:
            print(f"No hint of {kata.id} revealed yet: `kata hint {kata.id}` shows the first.")
            return 0
    else:
        with ProgressStore.open() as store:
            next_index = min(store.hints_revealed(kata.id), len(hints) - 1)  # past the last: the last again
            shown = range(next_index, next_index + 1)
            store.reveal_hint(kata.id, next_index)  # the store keeps the highest index revealed
    for index in shown:
        print(f"Hint {index + 1}/{len(hints)} for {kata.id}:\n\n{hints[index]}\n")
    if shown[-1] == len(hints) - 1:
        print("That is the last hint. `kata solution " + kata.id + "` shows the reference once you pass.")
    return 0


def _solution(args: argparse.Namespace) -> int:
    """print the reference solution (once your implementation passes)"""
    kata = find_kata(args.kata)
    if not args.force:
        with readable_store() as store:
            passed = store.has_passed(kata.id)
        if not passed:
            raise UserError(
                f"the solution of {kata.id} opens once `kata grade {kata.id}` passes "
                f"(or now, with `kata solution {kata.id} --force`)"
            )
    reference = kata.solution_path.read_text(encoding="utf-8")
    if not args.diff:
        print(reference, end="")
        return 0
    import shutil

    from kata.paths import workspace_file
    from kata.sidebyside import diff_rows, render

    mine = workspace_file(kata.id, args.workspace)
    try:
        text = mine.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise UserError(f"cannot read your file {mine}: {err.strerror} (`kata start {kata.id}` creates it)") from None
    width = shutil.get_terminal_size((100, 24)).columns
    print("\n".join(render(diff_rows(text, reference), width)))
    return 0
