from __future__ import annotations

import pytest

from streamer.dlqtool.transform import load_transform
from streamer.errors import ConfigError


def test_loads_an_importable_function() -> None:
    func = load_transform("streamer.dlqtool.record:payload_text")
    assert func(b"ab") == ("utf-8", "ab")


@pytest.mark.parametrize(
    "spec",
    ["nocolon", ":f", "streamer.dlqtool.record:", "no_such_module_xyz:f", "streamer.dlqtool.record:missing"],
)
def test_bad_specs_are_usage_errors(spec: str) -> None:
    with pytest.raises(ConfigError):
        load_transform(spec)
