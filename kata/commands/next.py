"""`kata next`: the kata to work on and the quiz to take now, from your record (kata.next_step)."""

from __future__ import annotations

import argparse

from kata.commands import Subparsers, add_verb, add_workspace_option, readable_store


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    parser = add_verb(subparsers, "next", _next)
    add_workspace_option(parser)


def _next(args: argparse.Namespace) -> int:
    """what to do next: the kata to work on and the quiz to take

    Suggest the next kata (the one you are working on, else the next not started) and the quiz to take (due
    questions, a weak topic, the topic behind that kata).
    """
    from grader.catalog import all_katas
    from kata.errors import UserError
    from kata.next_step import next_kata, next_quiz
    from kata.quiz.bank import load_bank
    from kata.quiz.session import clock_from_env

    with readable_store() as store:
        kata = next_kata(store, all_katas(), workspace=args.workspace)
        print(f"Next kata: {kata.text}: `{kata.command}`")
        try:
            quiz = next_quiz(store, load_bank(), clock_from_env()(), kata=kata.kata)
        except UserError as err:  # a broken bank: the kata part still stands
            print(f"Quiz: unavailable ({err})")
            return 0
        print(f"Quiz: {quiz.text}: `{quiz.command}`")
    return 0
