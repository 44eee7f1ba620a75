"""Pure detectors: typed values in, typed events out. No I/O, no asyncio, no clock reads: time is an argument."""
