"""CPU time and memory of a process tree, read from Linux /proc (no extra dependency).

CPU is user + system time of every live process in the tree, plus what each has collected
from children that already exited (`cutime`/`cstime`), so job processes that come and go
are still counted. Memory is RSS (counts shared pages once per process, so it
overstates a tree of forked processes) and PSS (shares them out; the honest sum).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class TreeSample:
    cpu_seconds: float
    rss_mb: float
    pss_mb: float
    processes: int


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces
    return raw[raw.rindex(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        text = (_PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return 0, 0
    for line in text.splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def sample(root: int, *, memory: bool = True) -> TreeSample:
    cpu_ticks = rss = pss = 0
    pids = tree(root)
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # fields[11..14] = utime, stime, cutime, cstime (stat fields 14-17)
        cpu_ticks += sum(int(value) for value in fields[11:15])
        if memory:
            process_rss, process_pss = _memory_kb(pid)
            rss += process_rss
            pss += process_pss
    return TreeSample(cpu_ticks / _TICKS, rss / 1024, pss / 1024, len(pids))
