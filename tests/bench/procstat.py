"""Process accounting for benchmarks, from /proc (psutil for RSS when it is installed): process trees,
CPU seconds per component, RSS, and the machine's overall CPU use.

Linux only, like the deployment. Used to say *where* the 2 cores went during a benchmark phase.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")

try:  # optional: the brief prefers psutil's RSS when it is there
    import psutil  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - depends on the venv
    psutil = None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    rest = raw[raw.rindex(")") + 2:].split()
    return rest  # rest[0] = state (field 3), rest[1] = ppid (field 4), utime = field 14 -> rest[11]


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def ppid_map() -> dict[int, int]:
    out = {}
    for pid in all_pids():
        f = _stat_fields(pid)
        if f is not None:
            out[pid] = int(f[1])
    return out


def tree(root: int) -> list[int]:
    """root and all its descendants (alive now)."""
    parents = ppid_map()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in parents or pid == root:
            out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def children(pid: int) -> list[int]:
    return sorted(p for p, pp in ppid_map().items() if pp == pid)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    f = _stat_fields(pid)
    if f is None:
        return 0.0
    return (int(f[11]) + int(f[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    if psutil is not None:
        try:
            return float(psutil.Process(pid).memory_info().rss) / 2**20
        except Exception:  # noqa: BLE001 - process gone
            return 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def postgres_backends(dbname: str) -> list[int]:
    """Backends serving `dbname` (their title is 'postgres: <cluster>: <user> <db> <host> <state>')."""
    out = []
    for pid in all_pids():
        c = cmdline(pid)
        if c.startswith("postgres:") and f" {dbname} " in f"{c} ":
            out.append(pid)
    return out


_PG_BACKGROUND = ("walwriter", "checkpointer", "background writer", "autovacuum", "logical replication",
                  "stats", "archiver", "walsender", "startup")


def postgres_background() -> list[int]:
    """The server's own processes (postmaster, WAL writer, checkpointer, ...): commits cost CPU there too."""
    out = []
    for pid in all_pids():
        c = cmdline(pid)
        if "/postgresql/" in c.split(" ", 1)[0] or (c.startswith("postgres:") and any(b in c for b in _PG_BACKGROUND)):
            out.append(pid)
    return out


def redis_servers(port: int) -> list[int]:
    out = []
    for pid in all_pids():
        c = cmdline(pid)
        if c.startswith("redis-server") and f":{port}" in c:
            out.append(pid)
    return out


def machine_busy() -> tuple[float, float, float]:
    """(busy jiffies, total jiffies, stolen jiffies) over all CPUs since boot, from /proc/stat.

    Busy includes steal: time the hypervisor gave our virtual CPUs to someone else.
    """
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = [int(x) for x in parts]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    total = sum(vals[:8])
    steal = vals[7] if len(vals) > 7 else 0
    return float(total - idle), float(total), float(steal)


class CpuMeter:
    """CPU seconds per named group of processes between start() and stop().

    A process that exits in between loses its share (pools keep theirs alive); one that starts in between
    counts from zero. Also the machine's CPU use (cores busy, out of os.cpu_count()).
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self._start: dict[str, dict[int, float]] = {}
        self._busy0 = (0.0, 0.0, 0.0)
        self.result: dict[str, float] = {}

    def _snap(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_seconds(pid) for pid in fn()} for name, fn in self.groups.items()}

    def start(self) -> CpuMeter:
        self._start = self._snap()
        self._busy0 = machine_busy()
        return self

    def stop(self, wall_s: float) -> dict[str, float]:
        end = self._snap()
        busy1 = machine_busy()
        res: dict[str, float] = {}
        for name, pids in end.items():
            before = self._start.get(name, {})
            res[name] = sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in pids.items())
        ncpu = os.cpu_count() or 1
        db, dt = busy1[0] - self._busy0[0], busy1[1] - self._busy0[1]
        res["machine_cores_busy"] = ncpu * db / dt if dt else 0.0
        res["machine_cores_stolen"] = ncpu * (busy1[2] - self._busy0[2]) / dt if dt else 0.0
        res["wall_s"] = wall_s
        self.result = res
        return res


NOT_GROUPS = ("wall_s", "machine_cores_busy", "machine_cores_stolen")


def cpu_table_rows(res: dict[str, float], per: float | None = None, per_label: str = "job") -> list[tuple[str, ...]]:
    """Rows: component, CPU s, cores (CPU s / wall), ms CPU per unit."""
    wall = res["wall_s"]
    rows: list[tuple[str, ...]] = [("component", "CPU s", "cores", f"CPU ms/{per_label}" if per else "")]
    for name, cpu in res.items():
        if name in NOT_GROUPS:
            continue
        rows.append((name, f"{cpu:.2f}", f"{cpu / wall:.2f}", f"{cpu * 1000 / per:.2f}" if per else ""))
    total = sum(v for k, v in res.items() if k not in NOT_GROUPS)
    rows.append(("sum of the above", f"{total:.2f}", f"{total / wall:.2f}", f"{total * 1000 / per:.2f}" if per else ""))
    stolen = res.get("machine_cores_stolen", 0.0)
    rows.append(("other processes on the machine", "", f"{max(0.0, res['machine_cores_busy'] - stolen - total / wall):.2f}", ""))
    rows.append(("stolen by the hypervisor (steal)", "", f"{stolen:.2f}", ""))
    rows.append(("machine (all processes)", "", f"{res['machine_cores_busy']:.2f} of {os.cpu_count()}", ""))
    return rows
