"""The dialogue manager and the state it keeps, without Django."""
