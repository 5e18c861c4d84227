"""A token bucket for a steady message rate, driven by a clock the caller passes in (so it is testable)."""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``burst`` saved up.

    :meth:`take` always succeeds and may leave the bucket in debt; the delay it returns is how long the
    caller must wait for the debt to be repaid. Callers sleep only when that delay is worth a timer, so a
    high rate costs one sleep per many messages, not one per message.
    """

    __slots__ = ("_burst", "_last_s", "_rate_per_s", "_tokens")

    def __init__(self, rate_per_s: float, now_s: float, burst: float | None = None) -> None:
        if not rate_per_s > 0:
            raise ValueError("rate must be positive")
        self._rate_per_s = rate_per_s
        self._burst = max(1.0, rate_per_s / 20.0) if burst is None else burst  # 50 ms of messages
        self._tokens = self._burst
        self._last_s = now_s

    def take(self, now_s: float, n: int = 1) -> float:
        """Spend ``n`` tokens at ``now_s``; the seconds to wait before sending them (0.0: send now)."""
        elapsed_s = max(0.0, now_s - self._last_s)
        self._last_s = now_s
        self._tokens = min(self._burst, self._tokens + elapsed_s * self._rate_per_s) - n
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate_per_s
