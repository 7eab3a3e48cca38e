"""Table keys for asset rows: readable, reversible RowKeys for blob names and hash-bucket
PartitionKeys per connection (see storage-limits.md §2).

PartitionKey = ``<connection id>~<bucket>`` with a stable hash bucket of the blob name, so a
page of thousands of blobs becomes batches of ≤ 100 entities per partition and a connection's
rows are found by scanning its fixed set of partitions. RowKey = the blob name with the
characters Azure Tables forbids (and ``%``) percent-escaped, or ``~h~<sha256>`` when still too
long; the full name is always kept in a property as well.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "BUCKETS",
    "bucket_of",
    "decode_row_key",
    "partition_key",
    "partitions_of",
    "row_key",
]

#: Hash buckets per connection. Fixed forever: changing it would orphan existing rows.
BUCKETS = 16

_ESCAPED = "/\\#?%"
_ESC = {ord(c): f"%{ord(c):02X}" for c in _ESCAPED}
_ESC.update({c: f"%{c:02X}" for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]})
_MAX_KEY_UNITS = 512
_DECODE = re.compile(r"%([0-9A-F]{2})")


def row_key(name: str) -> str:
    key = name.translate(_ESC)
    if len(key.encode("utf-16-le")) // 2 <= _MAX_KEY_UNITS:
        return key
    return "~h~" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def decode_row_key(key: str) -> str | None:
    """The blob name of a readable key; None for a hashed key (read the name property)."""
    if key.startswith("~h~"):
        return None
    return _DECODE.sub(lambda m: chr(int(m.group(1), 16)), key)


def bucket_of(name: str) -> int:
    return (
        hashlib.md5(name.encode("utf-8", "surrogatepass"), usedforsecurity=False).digest()[0]
        % BUCKETS
    )


def partition_key(connection_id: str, name: str) -> str:
    return f"{connection_id}~{bucket_of(name):02x}"


def partitions_of(connection_id: str) -> list[str]:
    return [f"{connection_id}~{b:02x}" for b in range(BUCKETS)]
