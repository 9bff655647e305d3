"""The app's door to the grader's catalog (grader.catalog): a kata id the learner
typed is looked up here, so a mistyped one gets "did you mean pipe?"."""

from __future__ import annotations

from grader.catalog import KataDef, kata_ids, load_kata
from kata.errors import UserError
from kata.wording import unknown


def find_kata(kata_id: str) -> KataDef:
    known = kata_ids()
    if kata_id not in known:
        raise UserError(unknown("kata", kata_id, known))
    return load_kata(kata_id)
