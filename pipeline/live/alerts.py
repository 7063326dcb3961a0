"""Overcrowding alerts that neither flap nor repeat: smoothed counts with hysteresis.

A count is smoothed by an exponential moving average with a time constant in
seconds (so dropped or sampled frames do not change how fast it reacts). An
alert fires when the smoothed count reaches the threshold and clears only
once it falls below ``threshold x (1 - hysteresis)``: a count hovering at the
threshold fires once, not on every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class AlertConfig:
    smoothing_s: float = 2.0  # EMA time constant; 0 = no smoothing
    hysteresis: float = 0.1  # clear below threshold x (1 - hysteresis)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.smoothing_s) and self.smoothing_s >= 0):
            raise ConfigError("smooth", f"must be a finite number of seconds >= 0, got {self.smoothing_s}")
        if not 0 <= self.hysteresis < 1:
            raise ConfigError("hysteresis", f"must be in [0, 1), got {self.hysteresis}")


@dataclass
class _Track:
    threshold: float | None
    value: float | None = None
    last_t: float | None = None
    active: bool = False


@dataclass
class AlertMonitor:
    """Smoothed counts and alert events for named series (zones, and ``total``)."""

    thresholds: dict[str, float | None]
    config: AlertConfig = AlertConfig()
    fired: int = 0
    _tracks: dict[str, _Track] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._tracks = {name: _Track(th) for name, th in self.thresholds.items()}

    def update(self, t: float, counts: dict[str, float]) -> tuple[dict[str, float], list[dict]]:
        """Feed the counts of the frame at time `t` (seconds); returns (smoothed counts, events).

        An event is ``{"event": "alert" | "clear", "zone", "count", "threshold", "t"}``.
        """
        smoothed, events = {}, []
        for name, count in counts.items():
            tr = self._tracks.setdefault(name, _Track(None))
            if tr.value is None or self.config.smoothing_s == 0:
                tr.value = count
            else:
                a = 1 - math.exp(-max(t - tr.last_t, 0.0) / self.config.smoothing_s)
                tr.value += a * (count - tr.value)
            tr.last_t = t
            smoothed[name] = tr.value
            if tr.threshold is None:
                continue
            event = None
            if not tr.active and tr.value >= tr.threshold:
                tr.active, event = True, "alert"
                self.fired += 1
            elif tr.active and tr.value < tr.threshold * (1 - self.config.hysteresis):
                tr.active, event = False, "clear"
            if event:
                events.append({"event": event, "zone": name, "count": tr.value, "threshold": tr.threshold, "t": t})
        return smoothed, events

    @property
    def active(self) -> list[str]:
        return [name for name, tr in self._tracks.items() if tr.active]
