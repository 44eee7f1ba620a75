"""Pure video analytics: decoding detector output, motion, rules over tracks, camera tamper. No I/O, no clock:
every function takes the frame, the boxes and the time it is given."""
