"""Dead-letter queue tooling: inspect (``stats``, ``show``), fix (``--transform``) and replay, safely.

Pure parts (no I/O): :mod:`.record`, :mod:`.filters`, :mod:`.stats`, :mod:`.plan`, :mod:`.audit`.
Kafka I/O: :mod:`.reader` (reads the DLQ up to a snapshot of its end offsets) and :mod:`.replay`
(transactional re-publish, see its docstring for the guarantees).
"""
