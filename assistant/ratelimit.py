"""A token bucket: how fast one chat connection may send frames."""

import time
from collections.abc import Callable


class TokenBucket:
    """Lets through bursts of up to ``capacity`` frames, refilled at ``rate`` frames per second.

    Each frame spends a token; a client sending faster than ``rate`` for long enough finds the
    bucket empty and is refused until time refills it. ``clock`` is for tests.
    """

    def __init__(self, capacity: int, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.rate = rate
        self.clock = clock
        self.tokens = float(capacity)
        self.last = clock()

    def take(self) -> bool:
        """Spend one token if there is one; ``False`` means over the limit (nothing is spent)."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
