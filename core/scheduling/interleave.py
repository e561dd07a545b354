"""Share of voice: how tied playlists are merged, and how a player walks a window's items.

The player contract (docs/scheduling.md): a window's `sequence` is played by smooth
weighted round-robin (SWRR) in list order, so each item gets `weight` plays per cycle of
sum(weights) plays, spread out, and equal weights play in list order. `weighted_cycle` is
the reference implementation (used by tests and the console preview).

Merging tied playlists therefore only has to decide the list order; the share of voice of
each playlist follows from its items' weights. `interleave` spreads every playlist's items
over one unit of "cycle position" by weight: item k of a playlist with total weight W sits
at (weight before k + w_k / 2) / W. Sorting by that position, then by the playlist's rank
(schedule id order), then by k, keeps each playlist's own order and alternates playlists
evenly. Positions are compared exactly, as integers over a common denominator, so the order
never depends on floating point.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import lcm
from typing import TypeVar

T = TypeVar("T")


def interleave(playlists: Sequence[Sequence[tuple[T, int]]]) -> list[T]:
    """Merge (value, weight) lists, given in rank order, into one list."""
    if len(playlists) == 1:
        return [value for value, _ in playlists[0]]
    totals = [sum(weight for _, weight in entries) for entries in playlists]
    denominator = lcm(*(2 * total for total in totals if total))
    keyed: list[tuple[int, int, int, T]] = []
    for rank, entries in enumerate(playlists):
        scale = denominator // (2 * totals[rank]) if totals[rank] else 0
        before = 0
        for index, (value, weight) in enumerate(entries):
            keyed.append(((2 * before + weight) * scale, rank, index, value))
            before += weight
    keyed.sort(key=lambda k: (k[0], k[1], k[2]))
    return [value for _, _, _, value in keyed]


def weighted_cycle(weights: Sequence[int]) -> list[int]:
    """One SWRR cycle over item indices: every index appears `weights[i]` times; ties go to
    the earlier index. This is what a player does with a window's items."""
    if any(w <= 0 for w in weights):
        raise ValueError("weights must be positive")
    total = sum(weights)
    current = [0] * len(weights)
    order: list[int] = []
    for _ in range(total):
        for i, weight in enumerate(weights):
            current[i] += weight
        best = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[best] -= total
        order.append(best)
    return order
