"""The draws the demo makes per row, the same bits as ``random.Random`` but fewer calls."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class Dice:
    """The draws the demo makes per row, exactly as ``random.Random`` would make them.

    ``randint`` and ``choice`` take several Python calls per draw; these take the same bits
    from the same generator (``getrandbits``, as CPython's ``Random._randbelow`` does), so
    a seed still makes the same clinic, in less time.
    """

    def __init__(self, rng: random.Random) -> None:
        """Draw from ``rng``."""
        self.bits = rng.getrandbits
        self.random = rng.random

    def below(self, n: int) -> int:
        """Return a random int in [0, n), as ``Random._randbelow``."""
        k = n.bit_length()
        bits = self.bits
        r = bits(k)
        while r >= n:
            r = bits(k)
        return r

    def randint(self, low: int, high: int) -> int:
        """Return a random int in [low, high], as ``Random.randint``."""
        return low + self.below(high - low + 1)

    def choice(self, seq: Sequence[T]) -> T:
        """Return a random element of ``seq``, as ``Random.choice``."""
        return seq[self.below(len(seq))]

    def stamp(self, day: dt.date) -> str:
        """Return a time between 7:00 and 17:59 (UTC) on ``day``, in stored form."""
        below = self.below
        hour, minute, second = 7 + below(11), below(60), below(60)
        return f"{day.isoformat()} {hour:02d}:{minute:02d}:{second:02d}.000000"
