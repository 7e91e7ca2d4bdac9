"""How a room beneath asks the rooms above it, which it may not import (the ladder).

The room beneath declares what it asks where it asks it: a `Hook` (one answer, typed, with
what holds while nobody has answered) or a `Registry` (any number of contributions, such
as readiness checks or metric collectors). The room above answers in its app's ready(),
so every link between rooms is one line there, and nothing overwrites another module's
attributes.
"""

from collections.abc import Callable, Iterator
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Hook(Generic[P, R]):
    """A question a room beneath asks, answered once by a room above. Called like the
    function that answers it; `unanswered` answers while nobody has (it must fail closed
    where that matters: no window, no names)."""

    def __init__(self, what: str, *, unanswered: Callable[P, R]) -> None:
        self.what = what
        self._unanswered = unanswered
        self._answer: Callable[P, R] | None = None

    def answer(self, function: Callable[P, R]) -> None:
        """Called by the room above when its app is ready. A second, different answer is
        a mistake in the wiring, not something to settle silently."""
        if self._answer is not None and self._answer is not function:
            raise RuntimeError(f"{self.what} is answered already")
        self._answer = function

    @property
    def answered(self) -> bool:
        return self._answer is not None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        answer = self._answer or self._unanswered
        return answer(*args, **kwargs)


class Registry(Generic[T]):
    """Contributions from the rooms above, in the order they were made, each once."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: list[T] = []

    def add(self, item: T) -> None:
        if item not in self._items:
            self._items.append(item)

    def __iter__(self) -> Iterator[T]:
        # Read on every audit record (the record counters): no copy, as contributions are
        # made once, when the apps are ready.
        return iter(self._items)
