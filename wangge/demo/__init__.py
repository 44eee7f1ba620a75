"""`wangge demo`: the whole system on one machine, on embedded defaults."""
