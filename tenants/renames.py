"""`previousNames`: each former name stands for one thing that is no more."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Union

PathKey = Union[str, int]


def previous_name_findings(
    collection: str, kind: str, entries: Iterable[tuple[str, Sequence[str]]], current: set[str]
) -> Iterator[tuple[tuple[PathKey, ...], str]]:
    """Findings for `<collection>[i].previousNames[j]`: a name still in use (`current`), or one
    claimed by two entries. `entries`: each entry's name and former names, in file order."""
    claimed: dict[str, str] = {}  # former name -> the entry that claims it
    for i, (name, previous) in enumerate(entries):
        for j, old in enumerate(previous):
            path = (collection, i, "previousNames", j)
            if old in current:
                yield path, f"previous name {old!r} is the name of a current {kind}"
            elif old in claimed:
                yield path, f"previous name {old!r} is also claimed by {kind} {claimed[old]!r}"
            else:
                claimed[old] = name
