"""What every benchmark shares: the machine, measured child processes, BENCHMARKS.md.

Peak memory is a child's own VmHWM (/proc/self/status), written by a small
wrapper at exit: `ru_maxrss` would charge each child with the high-water mark
of the address space exec replaced (Python spawns children by vfork).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["ROOT", "Measured", "child_env", "machine_info", "machine_line", "run_measured",
           "write_section"]

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
import atexit, runpy, sys
out = sys.argv.pop(1)
module = sys.argv.pop(1)
def peak():
    with open('/proc/self/status') as f:
        kb = next(line.split()[1] for line in f if line.startswith('VmHWM:'))
    with open(out, 'w') as f:
        f.write(kb)
atexit.register(peak)
sys.argv[0] = module
runpy.run_module(module, run_name='__main__', alter_sys=True)
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_mb: float
    stdout: str


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: the repository importable, no VENDRE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENDRE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def run_measured(module: str, args: Sequence[str], *, work: Path,
                 env: Mapping[str, str] | None = None) -> Measured:
    """Run `python -m module args` to completion; its wall time and own peak RSS."""
    peak_file = work / f".peak-{module}-{time.monotonic_ns()}"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, str(peak_file), module, *args],
                          env=child_env(env), cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    peak_kb = int(peak_file.read_text().strip())
    peak_file.unlink()
    return Measured(seconds, peak_kb / 1024, done.stdout)


def machine_info() -> dict[str, str]:
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
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def machine_line() -> str:
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
