"""The with-statement for the test servers and helper threads: `with X() as x:` starts it and always stops it."""
from __future__ import annotations

from typing import Self


class Service:
    """Subclasses define start() (returning self) and stop()."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
