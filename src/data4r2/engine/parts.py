"""Pure rules for splitting a file into multipart parts (R2's are the strictest we meet)."""

from __future__ import annotations

from ..domain import DestinationError, SinkLimits

MiB = 1024**2


def choose_part_size(size: int, preferred: int, limits: SinkLimits) -> int:
    """The part size for a file of `size` bytes: `preferred`, grown so it needs ≤ max parts.

    Every part but the last has exactly this size (R2 rejects anything else at Complete),
    so it is chosen once per upload and persisted with it.
    """
    part = max(preferred, limits.min_part_size)
    needed = -(-size // limits.max_parts)  # ceil
    if needed > part:
        part = -(-needed // MiB) * MiB  # round up to a whole MiB
    if part > limits.max_part_size:
        raise DestinationError(
            f"a file of {size} bytes cannot be uploaded: it would need parts larger than "
            f"{limits.max_part_size} bytes"
        )
    return part


def part_count(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


def part_length(size: int, part_size: int, number: int) -> int:
    """Length of 1-based part `number`."""
    return min(part_size, size - (number - 1) * part_size)
