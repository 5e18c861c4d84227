"""Load the user's ``--transform MODULE:FUNC``: a function from the original value bytes to new
bytes, or None to skip the record. Its output goes back to the raw topic and through validation
again, so a transform can repair a payload but never make the pipeline accept it unchecked.

The module is imported the ordinary way: it must be importable (installed, or on ``PYTHONPATH``;
``python -m streamer.cli`` also finds modules in the working directory).
"""

from __future__ import annotations

import importlib

from streamer.dlqtool.plan import Transform
from streamer.errors import ConfigError

__all__ = ["load_transform"]


def load_transform(spec: str) -> Transform:
    """``package.module:function`` -> the function. Raises ConfigError (a usage error)."""
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name.isidentifier():
        raise ConfigError(f"--transform {spec!r} is not MODULE:FUNC")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--transform: cannot import {module_name!r}: {exc}") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ConfigError(f"--transform: {module_name!r} has no function {func_name!r}")
    transform: Transform = func
    return transform
