"""A count out of a total: the one ratio the quiz reports (answers right per topic, answer cues).

One type so that "3 of 4 (75%)" and the empty case (0 of 0 is 0%, never a ZeroDivisionError) are
decided once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Share:
    count: int
    of: int

    @property
    def share(self) -> float:
        return self.count / self.of if self.of else 0.0

    def percent(self) -> str:
        return f"{self.count} of {self.of} ({self.share:.0%})"
