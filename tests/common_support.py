"""Helpers every test folder shares: a progress receiver, and the store's walk in the shape tests compare."""

from runicorn.store import Walker


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
