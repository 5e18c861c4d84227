"""``streamer bench``: the worker against its peers on one broker and one workload, and its state's costs.

One command runs every variant on the same broker and the same simulated market (thousands of price nodes and
load zones at 5-minute intervals, a share of corrupt messages), each on fresh topics:

- ``passthrough``: raw aiokafka consume -> produce (acks=all) -> commit in whole record batches: the ceiling;
- ``passthrough-x6``: the same writing six records per input, as many as the worker writes (no processing);
- ``faust-naive``: a plain per-event Faust agent with a table write per event;
- ``quix``: the equivalent Quix Streams pipeline in ``bench/peers/`` (the bench extra);
- ``streamer-1``, ``streamer-2``: real ``streamer worker`` processes.

For each: steady events/s, CPU microseconds per event and peak RSS of its processes, and end-to-end latency
percentiles at half of its own maximum rate. The other measurements (``memory``, ``restore``, ``soak``) run
one streamer worker at a time. Results are written to ``bench/results/<date>.json`` with a PNG plot, and
:func:`streamer.benchmark.report.markdown` renders the README's table from that file.
"""

from __future__ import annotations

__all__: list[str] = []
