"""wangge (网格): smart-community sensor and video integration gateway."""

__version__ = "0.1.0"
