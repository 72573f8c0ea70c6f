"""Helpers every test folder shares: a progress receiver, the store's walk in the shape tests compare,
and a bounded poll."""

import time

from runicorn.store import Walker

WAIT = 30.0  # the bound of every wait; generous, as a loaded CI machine is slow


def wait_until(predicate, what: str = "a condition", timeout: float = WAIT, interval: float = 0.02):
    """Poll ``predicate`` until it returns something true (returned); fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Recorder:
    """Records the total the work announced and what it reported since."""

    def __init__(self):
        self.total = None
        self.unit = None
        self.steps: list[int] = []

    def start(self, total: int, unit: str = "bytes") -> None:
        self.total, self.unit = total, unit

    def advance(self, amount: int) -> None:
        self.steps.append(amount)

    @property
    def done(self) -> int:
        return sum(self.steps)


def reach_of(store, roots):
    """What the roots reach (the store's one walk), and the referenced ids that are missing."""
    reach = Walker(store).walk(roots)
    return reach.reached, sorted(reach.missing)
