"""roadwatch: real-time traffic camera analytics (app wiring and command line)."""

__version__ = "0.1.0"
