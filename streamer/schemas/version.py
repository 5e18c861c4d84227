"""The schema version every output record carries as a Kafka header.

The value is the major version of the topic's published schema (``streamer/schemas/released/v<major>/``).
Within a major version a schema only gains optional fields (see :mod:`streamer.schemas.evolution`), so a
consumer written for ``1`` reads every record whose header says ``1``. If a header repeats, the last one
counts, as :func:`streamer.dlq.header_value` reads it.
"""

from __future__ import annotations

__all__ = ["SCHEMA_MAJOR", "SCHEMA_VERSION_HEADER", "VERSION_HEADER"]

SCHEMA_VERSION_HEADER = "streamer.schema_version"
SCHEMA_MAJOR = 1
VERSION_HEADER: tuple[str, bytes] = (SCHEMA_VERSION_HEADER, str(SCHEMA_MAJOR).encode())
