"""The receptionist's tools, one mixin per concern; `agent.Receptionist` composes them.

- `availability`: finding times (free slots, the earliest emergency visit).
- `appointments`: changing the book (find the caller's appointments, read back, then book,
  move or cancel) on top of `commit`, the one path an approved change takes.
- `people`: reaching a person (a callback request).
- `ending`: hanging up.
- `desk`: the per-clinic state and helpers the clinic tools share.
"""
