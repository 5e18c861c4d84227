from __future__ import annotations

import pytest

from streamer.processor import OutMessage
from tests.unit.web.sa1 import sa1_outputs


@pytest.fixture
def outputs() -> list[OutMessage]:
    return list(sa1_outputs())
