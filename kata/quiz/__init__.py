"""The quiz: the question bank (`bank`), its checker (`lint`), the claims of the
source material (`claims`), running `code` questions (`coderun`); sessions and
scheduling build on `Question` and `load_bank`.

`from kata.quiz import Question, load_bank` works; the import is lazy so that
importing a submodule stays cheap.
"""

from __future__ import annotations

__all__ = ["Bank", "BankError", "Expect", "Problem", "Question", "Topic", "load_bank"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from kata.quiz import bank

        return getattr(bank, name)
    raise AttributeError(f"module 'kata.quiz' has no attribute {name!r}")
