import threading

import pytest

from data4r2.domain import DestinationError, SinkLimits
from data4r2.engine.buffers import BufferPool
from data4r2.engine.parts import choose_part_size, part_count, part_length

MiB = 1024**2
GiB = 1024**3


def test_part_size_is_preferred_when_it_fits() -> None:
    assert choose_part_size(1 * GiB, 16 * MiB, SinkLimits()) == 16 * MiB


def test_part_size_never_below_the_minimum() -> None:
    assert choose_part_size(100 * MiB, 1 * MiB, SinkLimits()) == 5 * MiB


def test_part_size_grows_so_a_huge_file_needs_at_most_10000_parts() -> None:
    size = 4 * 1024 * GiB  # 4 TiB
    part = choose_part_size(size, 16 * MiB, SinkLimits())
    assert part % MiB == 0
    assert part_count(size, part) <= 10_000
    assert part_count(size, part - MiB) > 10_000  # and it is the smallest whole-MiB size


def test_a_file_too_large_for_any_part_size_is_refused() -> None:
    with pytest.raises(DestinationError):
        choose_part_size(10_001 * (5 * GiB), 16 * MiB, SinkLimits())


def test_parts_are_equal_but_the_last() -> None:
    size = 40 * MiB + 3
    lengths = [part_length(size, 16 * MiB, n) for n in range(1, part_count(size, 16 * MiB) + 1)]
    assert lengths == [16 * MiB, 16 * MiB, 8 * MiB + 3]


def test_buffer_pool_blocks_past_the_budget_and_wakes_on_release() -> None:
    pool = BufferPool(2 * MiB)
    a = pool.acquire(MiB)
    b = pool.acquire(MiB)
    got: list[bytearray] = []
    t = threading.Thread(target=lambda: got.append(pool.acquire(MiB)))
    t.start()
    t.join(0.2)
    assert t.is_alive() and not got  # budget spent: the third acquire waits
    pool.release(a, MiB)
    t.join(5)
    assert got and len(got[0]) >= MiB
    pool.release(b, MiB)
    pool.release(got[0], MiB)


def test_buffer_pool_reuses_buffers() -> None:
    pool = BufferPool(4 * MiB)
    a = pool.acquire(2 * MiB)
    pool.release(a, 2 * MiB)
    assert pool.acquire(2 * MiB) is a


def test_buffer_pool_grants_one_oversized_request_when_idle() -> None:
    pool = BufferPool(MiB)
    big = pool.acquire(3 * MiB)
    assert len(big) == 3 * MiB
