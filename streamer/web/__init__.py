"""The web layer: the live market dashboard and its read-only REST API (``streamer dashboard``).

The domain core never imports this package. ``market``, ``records`` and ``lookback`` are plain Python;
``reader`` talks to Kafka, ``stream``, ``api`` and ``app`` to HTTP, and ``dashboard`` runs them together.
"""

__all__: list[str] = []
