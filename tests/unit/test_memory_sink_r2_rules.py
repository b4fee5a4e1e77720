"""The strict R2 double: each rule of docs/r2.md §8 refuses a violating request and accepts a
legal one; plus the test hooks (faults, counters) engine tests rely on."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from doubles.memory_sink import EQUAL_PARTS, MemorySink, StoreRejected

from data4r2.domain import (
    DestinationError,
    IntegrityError,
    ObjectMeta,
    PartInfo,
    RateLimited,
    SinkLimits,
    TransientError,
    UploadGone,
)

MiB = 1024**2


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def meta_for(body: bytes, path: str = "f.bin") -> ObjectMeta:
    return ObjectMeta("acme/model", "model", "c" * 40, path, hashlib.sha256(body).hexdigest())


def multipart(sink: MemorySink, key: str, sizes: list[int]) -> tuple[str, list[PartInfo], bytes]:
    """Upload parts of `sizes` bytes; every upload_part is accepted (R2 checks at Complete)."""
    bodies = [bytes([n]) * size for n, size in enumerate(sizes, 1)]
    whole = b"".join(bodies)
    upload_id = sink.create_multipart(key, meta_for(whole), max(sizes))
    parts = [sink.upload_part(key, upload_id, n, memoryview(b)) for n, b in enumerate(bodies, 1)]
    return upload_id, parts, whole


# --------------------------------------------------------------------------- equal parts


def test_unequal_non_trailing_parts_are_rejected_at_complete() -> None:
    # The repro from cloudflare-docs PR #9549: 5242880 then 5242881.
    sink = MemorySink()
    upload_id, parts, _ = multipart(sink, "k", [5242880, 5242881])
    with pytest.raises(StoreRejected) as err:
        sink.complete("k", upload_id, parts)
    assert str(err.value) == EQUAL_PARTS
    assert err.value.code == "InvalidPart"
    assert isinstance(err.value, DestinationError) and not err.value.retryable
    assert sink.head("k") is None


def test_equal_parts_with_a_smaller_last_are_accepted() -> None:
    sink = MemorySink()
    upload_id, parts, whole = multipart(sink, "k", [5 * MiB, 5 * MiB, 1 * MiB])
    sink.complete("k", upload_id, parts)
    assert sink.get("k") == whole
    assert sink.open_uploads == {}


@pytest.mark.parametrize(
    "sizes",
    [
        [5 * MiB, 6 * MiB, 1 * MiB],  # a middle part differs
        [6 * MiB, 5 * MiB, 5 * MiB],  # resumed with a new part size
        [5 * MiB, 5 * MiB, 5 * MiB + 1],  # the last is larger
    ],
)
def test_every_unequal_layout_is_rejected(sizes: list[int]) -> None:
    sink = MemorySink()
    upload_id, parts, _ = multipart(sink, "k", sizes)
    with pytest.raises(StoreRejected, match="non-trailing parts must have the same length"):
        sink.complete("k", upload_id, parts)


def test_without_strict_r2_unequal_parts_are_accepted_like_s3() -> None:
    sink = MemorySink(strict_r2=False)
    upload_id, parts, whole = multipart(sink, "k", [6 * MiB, 5 * MiB, 1 * MiB])
    sink.complete("k", upload_id, parts)
    assert sink.get("k") == whole


# --------------------------------------------------------------------------- sizes and counts


def test_a_non_trailing_part_under_5_mib_is_too_small_a_single_one_is_fine() -> None:
    sink = MemorySink()
    upload_id, parts, _ = multipart(sink, "small", [MiB, MiB])
    with pytest.raises(StoreRejected) as err:
        sink.complete("small", upload_id, parts)
    assert err.value.code == "EntityTooSmall"
    upload_id, parts, whole = multipart(sink, "one", [MiB])
    sink.complete("one", upload_id, parts)
    assert sink.get("one") == whole


def test_part_and_put_size_limits() -> None:
    limits = SinkLimits(min_part_size=4, max_part_size=8, max_parts=3, max_single_put=10)
    sink = MemorySink(limits)
    upload_id = sink.create_multipart("k", meta_for(b""), 8)
    with pytest.raises(StoreRejected) as err:
        sink.upload_part("k", upload_id, 1, memoryview(b"x" * 9))
    assert err.value.code == "EntityTooLarge"
    assert sink.upload_part("k", upload_id, 1, memoryview(b"x" * 8)).size == 8
    with pytest.raises(StoreRejected) as err:
        sink.put("big", memoryview(b"x" * 11), meta_for(b"x" * 11))
    assert err.value.code == "EntityTooLarge"
    sink.put("ok", memoryview(b"x" * 10), meta_for(b"x" * 10))
    assert sink.get("ok") == b"x" * 10


def test_part_numbers_run_from_1_to_10000() -> None:
    sink = MemorySink()
    upload_id = sink.create_multipart("k", meta_for(b""), 5 * MiB)
    for bad in (0, 10_001):
        with pytest.raises(StoreRejected) as err:
            sink.upload_part("k", upload_id, bad, memoryview(b"x"))
        assert err.value.code == "InvalidArgument"
    assert sink.upload_part("k", upload_id, 10_000, memoryview(b"x")).number == 10_000


def test_keys_longer_than_1024_bytes_are_refused() -> None:
    sink = MemorySink()
    longest = "é" * 512  # 1,024 bytes in UTF-8
    sink.put(longest, memoryview(b"x"), meta_for(b"x"))
    assert sink.get(longest) == b"x"
    too_long = longest + "a"
    for call in (
        lambda: sink.put(too_long, memoryview(b"x"), meta_for(b"x")),
        lambda: sink.create_multipart(too_long, meta_for(b"x"), 5 * MiB),
    ):
        with pytest.raises(StoreRejected) as err:
            call()
        assert err.value.code == "InvalidObjectName"


def test_metadata_over_8192_bytes_is_refused() -> None:
    sink = MemorySink()
    base = meta_for(b"x")
    overhead = sum(len(k) + len(v) for k, v in base.to_headers().items()) - len(base.path)
    fits = ObjectMeta("acme/model", "model", "c" * 40, "p" * (8192 - overhead), base.sha256)
    sink.put("fits", memoryview(b"x"), fits)
    assert sink.meta("fits") == fits
    over = ObjectMeta("acme/model", "model", "c" * 40, "p" * (8193 - overhead), base.sha256)
    with pytest.raises(StoreRejected) as err:
        sink.put("over", memoryview(b"x"), over)
    assert err.value.code == "MetadataTooLarge"
    with pytest.raises(StoreRejected):
        sink.create_multipart("over", over, 5 * MiB)


# --------------------------------------------------------------------------- writes per second


def test_a_second_write_to_one_key_within_a_second_is_a_retryable_429() -> None:
    clock = FakeClock()
    sink = MemorySink(clock=clock)
    sink.put("k", memoryview(b"one"), meta_for(b"one"))
    sink.put("other", memoryview(b"x"), meta_for(b"x"))  # another key: no limit
    clock.now += 0.999
    with pytest.raises(RateLimited) as err:
        sink.put("k", memoryview(b"two"), meta_for(b"two"))
    assert isinstance(err.value, TransientError) and err.value.retryable
    assert sink.get("k") == b"one"
    clock.now += 0.001
    sink.put("k", memoryview(b"two"), meta_for(b"two"))
    assert sink.get("k") == b"two"


def test_complete_counts_as_a_write_and_a_refused_one_can_be_retried() -> None:
    clock = FakeClock()
    sink = MemorySink(clock=clock)
    sink.put("k", memoryview(b"one"), meta_for(b"one"))
    upload_id, parts, whole = multipart(sink, "k", [5 * MiB, MiB])
    with pytest.raises(RateLimited):
        sink.complete("k", upload_id, parts)
    clock.now += 1
    sink.complete("k", upload_id, parts)  # the 429 left the upload intact
    assert sink.get("k") == whole


def test_a_refused_write_does_not_count_as_a_write() -> None:
    clock = FakeClock()
    sink = MemorySink(clock=clock)
    with pytest.raises(IntegrityError):
        sink.put("k", memoryview(b"bad"), meta_for(b"good"))
    sink.put("k", memoryview(b"good"), meta_for(b"good"))  # same instant: no 429
    assert sink.get("k") == b"good"


def test_without_strict_r2_writes_are_not_rate_limited() -> None:
    sink = MemorySink(strict_r2=False, clock=FakeClock())
    for body in (b"1", b"2"):
        sink.put("k", memoryview(body), meta_for(body))
    assert sink.get("k") == b"2"


# --------------------------------------------------------------------------- checks and uploads


def test_put_verifies_sha256_and_stores_nothing_on_mismatch() -> None:
    sink = MemorySink()
    with pytest.raises(IntegrityError, match="BadDigest"):
        sink.put("k", memoryview(b"corrupted"), meta_for(b"original"))
    assert sink.objects == {}
    assert sink.count("put", "k") == 0 and sink.count("put", "k", ok=False) == 1


def test_upload_part_records_crc32c_and_complete_checks_etags() -> None:
    sink = MemorySink()
    upload_id, parts, _ = multipart(sink, "k", [5 * MiB, MiB])
    assert [p.checksum for p in sink.list_parts("k", upload_id)] == [p.checksum for p in parts]
    assert parts[0].checksum == sink.part_checksum(memoryview(b"\x01" * 5 * MiB))
    stale = PartInfo(2, MiB, '"0123"', parts[1].checksum)
    with pytest.raises(StoreRejected) as err:
        sink.complete("k", upload_id, [parts[0], stale])
    assert err.value.code == "InvalidPart"
    missing = PartInfo(3, MiB, parts[1].etag, parts[1].checksum)
    with pytest.raises(StoreRejected):
        sink.complete("k", upload_id, [parts[0], parts[1], missing])
    sink.complete("k", upload_id, list(reversed(parts)))  # R2 sorts the list itself


def test_abort_then_every_call_on_the_upload_is_gone() -> None:
    sink = MemorySink()
    upload_id, parts, _ = multipart(sink, "k", [5 * MiB, MiB])
    sink.abort("k", upload_id)
    assert sink.open_uploads == {}
    for call in (
        lambda: sink.list_parts("k", upload_id),
        lambda: sink.upload_part("k", upload_id, 3, memoryview(b"x")),
        lambda: sink.complete("k", upload_id, parts),
        lambda: sink.abort("k", upload_id),
    ):
        with pytest.raises(UploadGone):
            call()


def test_an_upload_older_than_7_days_is_gone() -> None:
    clock = FakeClock()
    sink = MemorySink(clock=clock)
    upload_id, parts, _ = multipart(sink, "k", [5 * MiB, MiB])
    clock.now += 7 * 24 * 3600
    assert len(sink.list_parts("k", upload_id)) == 2  # exactly 7 days: still there
    clock.now += 1
    with pytest.raises(UploadGone):
        sink.complete("k", upload_id, parts)


def test_bodies_are_copied_not_kept_as_views() -> None:
    sink = MemorySink(SinkLimits(min_part_size=1))
    buf = bytearray(b"aaaa")
    upload_id = sink.create_multipart("k", meta_for(b"aaaabbbb"), 4)
    p1 = sink.upload_part("k", upload_id, 1, memoryview(buf))
    buf[:] = b"bbbb"  # the engine refills its buffer for the next part
    p2 = sink.upload_part("k", upload_id, 2, memoryview(buf))
    sink.complete("k", upload_id, [p1, p2])
    assert sink.get("k") == b"aaaabbbb"


def test_parts_from_many_threads_all_land() -> None:
    sink = MemorySink(SinkLimits(min_part_size=1))
    upload_id = sink.create_multipart("k", meta_for(b""), 1000)
    bodies = {n: bytes([n % 256]) * 1000 for n in range(1, 201)}
    with ThreadPoolExecutor(8) as pool:
        parts = list(
            pool.map(lambda n: sink.upload_part("k", upload_id, n, memoryview(bodies[n])), bodies)
        )
    sink.complete("k", upload_id, parts)
    assert sink.get("k") == b"".join(bodies[n] for n in sorted(bodies))
    assert sink.count("upload_part", "k") == 200


# --------------------------------------------------------------------------- test hooks


def test_fail_next_injects_exactly_times_failures_then_succeeds() -> None:
    sink = MemorySink()
    upload_id = sink.create_multipart("k", meta_for(b""), 5 * MiB)
    sink.fail_next("upload_part", TransientError("503 ServiceUnavailable"), times=2)
    for _ in range(2):
        with pytest.raises(TransientError, match="503"):
            sink.upload_part("k", upload_id, 1, memoryview(b"x"))
    assert sink.list_parts("k", upload_id) == []  # a failure before the call stores nothing
    sink.upload_part("k", upload_id, 1, memoryview(b"x"))
    assert sink.count("upload_part", "k", number=1) == 1
    assert sink.count("upload_part", "k", number=1, ok=False) == 2
    assert sink.count("upload_part", "k", number=1, ok=None) == 3


def test_fail_next_can_target_one_key() -> None:
    sink = MemorySink()
    sink.fail_next("put", RateLimited("R2", None), key="b")
    sink.put("a", memoryview(b"x"), meta_for(b"x"))
    with pytest.raises(RateLimited):
        sink.put("b", memoryview(b"x"), meta_for(b"x"))
    sink.put("b", memoryview(b"x"), meta_for(b"x"))
    assert set(sink.objects) == {"a", "b"}


def test_fail_next_after_applies_the_call_then_raises() -> None:
    # A Complete whose answer was lost: the object exists and the upload is gone (docs/r2.md §6).
    sink = MemorySink()
    upload_id, parts, whole = multipart(sink, "k", [5 * MiB, MiB])
    sink.fail_next("complete", TimeoutError("read timed out"), after=True)
    with pytest.raises(TimeoutError):
        sink.complete("k", upload_id, parts)
    assert sink.get("k") == whole
    with pytest.raises(UploadGone):
        sink.complete("k", upload_id, parts)


def test_fail_next_is_safe_across_threads() -> None:
    sink = MemorySink()
    sink.fail_next("head", TransientError("reset"), times=50)
    failures = []
    lock = threading.Lock()

    def head(_: int) -> None:
        try:
            sink.head("k")
        except TransientError:
            with lock:
                failures.append(1)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(head, range(200)))
    assert len(failures) == 50
    assert sink.count("head", "k") == 150
