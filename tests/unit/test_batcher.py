"""The micro-batch policy, driven by a fake clock: no runtime, no broker."""

from __future__ import annotations

import pytest

from sparsiflow.connector.stream.batcher import BatchPolicy, MicroBatcher


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_closes_when_size_reached() -> None:
    b: MicroBatcher[str] = MicroBatcher(BatchPolicy(max_size=5, max_wait=1.0), FakeClock())
    assert b.add("a", 2) is None
    assert b.add("b", 2) is None
    assert b.add("c", 2) == ["a", "b", "c"]  # a record is not split: 6 >= 5
    assert len(b) == 0 and b.size == 0 and b.deadline is None


def test_closes_at_deadline_counted_from_first_item() -> None:
    clock = FakeClock()
    b: MicroBatcher[int] = MicroBatcher(BatchPolicy(max_size=100, max_wait=0.5), clock)
    assert b.poll() is None  # empty: never due
    b.add(1)
    assert b.deadline == pytest.approx(100.5)
    clock.now = 100.4
    b.add(2)
    assert b.poll() is None
    assert b.deadline == pytest.approx(100.5)  # a later item does not extend it
    clock.now = 100.5
    assert b.poll() == [1, 2]
    assert b.poll() is None and b.deadline is None
    clock.now = 200.0
    b.add(3)
    assert b.deadline == pytest.approx(200.5)


def test_flush_returns_what_is_open() -> None:
    b: MicroBatcher[int] = MicroBatcher(BatchPolicy(max_size=10, max_wait=9.0), FakeClock())
    assert b.flush() == []
    b.add(7, 3)
    assert b.size == 3
    assert b.flush() == [7]
    assert b.size == 0


def test_one_update_batches() -> None:
    b: MicroBatcher[int] = MicroBatcher(BatchPolicy(max_size=1, max_wait=9.0), FakeClock())
    assert [b.add(i) for i in range(3)] == [[0], [1], [2]]


@pytest.mark.parametrize(("size", "wait"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_policy_rejects_nonsense(size: int, wait: float) -> None:
    with pytest.raises(ValueError):
        BatchPolicy(size, wait)
