"""nemuri (眠り): an embodied agent that lives on a fixed tick and sleeps to remember."""

__version__ = "0.1.0"
