import socket
from pathlib import Path

import pytest

from streamer.errors import BrokerError
from streamer.feeds import read_path
from streamer.feeds.produce import ProduceSummary, produce
from streamer.topics import TopicNames

NYISO = Path(__file__).parents[3] / "data" / "pyiso" / "nyiso_lmp.csv"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_broker_is_a_broker_error() -> None:
    bootstrap = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(BrokerError, match=f"cannot reach Kafka at {bootstrap}"):
        await produce(read_path(NYISO, "nyiso"), bootstrap, TopicNames("t."))


def test_summary_reports_totals_per_topic() -> None:
    summary = ProduceSummary(elapsed_s=2.0)
    summary.sent.update({"raw.prices": 30, "raw.load": 10})
    assert summary.as_dict() == {
        "sent": {"raw.load": 10, "raw.prices": 30},
        "total": 40,
        "elapsed_s": 2.0,
        "rate_msg_s": 20.0,
    }
