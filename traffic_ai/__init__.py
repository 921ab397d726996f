"""traffic_ai: the discrete test space of safety-val.

Road graphs read from SUMO networks, macroscopic traffic data, spatio-temporal graph
neural networks that forecast flow, density and speed per road segment, and random
testing of many ego vehicles in SUMO traffic driven by those forecasts.

Heavy dependencies (torch, SUMO) are imported by the modules that need them, never here.
"""

from __future__ import annotations

__all__: list[str] = []
