"""What every benchmark shares: the machine, measured child processes, BENCHMARKS.md.

- `machine_info()` / `machine_line()`: CPU model, cores, Python, OS, UTC date
  and load average, as a dict or as one line.
- `run_measured(module, args, work=..., env=...)`: run `python -m module args`
  to completion; its wall time, own peak RSS, CPU time and stdout (`Measured`).
- `child_env(extra)`: the environment such a child gets.
- `write_section(name, section)`: replace `<!-- name -->...<!-- /name -->` in
  BENCHMARKS.md, creating the file with the shared intro when absent.

Peak memory is a child's own VmHWM (/proc/self/status), written by a small
wrapper at exit: `ru_maxrss` would charge each child with the high-water mark
of the address space exec replaced (Python spawns children by vfork).
"""

from __future__ import annotations

import os
import platform
import re
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["BENCHMARKS_FILE", "ROOT", "Measured", "child_env", "machine_info", "machine_line",
           "run_measured", "write_section"]

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_FILE = ROOT / "BENCHMARKS.md"
INTRO = """# Benchmarks

Each section is written by one benchmark under `bench/` (run with the command it
shows; it talks only to servers it starts on 127.0.0.1 and writes to a temporary
data dir). The numbers are the latest run, with the machine and date, next to a
baseline measured in the same run. Edit the text between a section's markers
only by re-running its benchmark with `--write`.
"""

# Runs `python -m MODULE ARGS...` as -m would, then writes its peak RSS (VmHWM, kB)
# to the file named by the first argument.
_WRAPPER = """\
import atexit, os, runpy, sys, threading
out = sys.argv.pop(1)
module = sys.argv.pop(1)
helpers = [0]  # the largest peak RSS seen among this process's own child processes
def vmhwm(pid):
    try:
        with open(f'/proc/{pid}/status') as f:
            return int(next(l.split()[1] for l in f if l.startswith('VmHWM:')))
    except (OSError, StopIteration, ValueError):
        return 0
def watch():
    me = str(os.getpid())
    while True:
        for pid in filter(str.isdigit, os.listdir('/proc')):
            try:
                with open(f'/proc/{pid}/stat') as f:
                    parent = f.read().rsplit(')', 1)[1].split()[1]
            except (OSError, IndexError):
                continue
            if parent == me:
                helpers[0] = max(helpers[0], vmhwm(pid))
        threading.Event().wait(0.2)
threading.Thread(target=watch, daemon=True).start()
def peak():
    with open(out, 'w') as f:
        f.write(f'{vmhwm("self")} {helpers[0]}')
atexit.register(peak)
sys.argv[0] = module
runpy.run_module(module, run_name='__main__', alter_sys=True)
"""


@dataclass(frozen=True)
class Measured:
    """One finished child process."""

    seconds: float  # wall time, interpreter start to exit
    peak_kb: int  # its own peak RSS (VmHWM)
    helpers_peak_kb: int  # the largest peak RSS of its own child processes (sampled, 0.2 s)
    cpu_s: float  # its user + system CPU time
    stdout: str

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    @property
    def helpers_peak_mb(self) -> float:
        return self.helpers_peak_kb / 1024


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: the repository importable, no VENDRE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENDRE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def run_measured(module: str, args: Sequence[str], *, work: Path,
                 env: Mapping[str, str] | None = None) -> Measured:
    """Run `python -m module args` in ROOT to completion, `env` added to `child_env()`.

    The CPU time is what this process's reaped children grew by meanwhile: right
    as long as no other child of this process ends during the run.

    :raises RuntimeError: the child exited non-zero (the message has the tail of its output).
    """
    peak_file = work / f".peak-{module}-{time.monotonic_ns()}"
    cpu_before = _children_cpu_s()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, str(peak_file), module, *args],
                          env=child_env(env), cwd=ROOT, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    cpu_s = _children_cpu_s() - cpu_before
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-2000:]
        raise RuntimeError(f"python -m {module} {' '.join(args)} exited {done.returncode}:\n"
                           f"{output}")
    own, helpers = (int(v) for v in peak_file.read_text().split())
    peak_file.unlink()
    return Measured(seconds, own, helpers, cpu_s, done.stdout)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_info() -> dict[str, str]:
    """cpu, cores, python, os, date (UTC, to the minute) and load (1-minute load average)."""
    cpu = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        if found:
            cpu = found.group(1).strip()
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count() or "?"),
            "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "load": f"{os.getloadavg()[0]:.2f}"}


def machine_line() -> str:
    """The machine and date as one line of text."""
    m = machine_info()
    return f"{m['date']}; {m['cpu']}, {m['cores']} cores; Python {m['python']}; {m['os']}"


def write_section(name: str, section: str, path: Path = BENCHMARKS_FILE) -> None:
    """Replace the text between `<!-- name -->` and `<!-- /name -->` (append if absent)."""
    start_marker, end_marker = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{start_marker}\n{section.strip()}\n{end_marker}"
    start, end = text.find(start_marker), text.find(end_marker)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(end_marker):]
    else:
        text = (text.rstrip("\n") if text.strip() else INTRO.rstrip("\n")) + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
