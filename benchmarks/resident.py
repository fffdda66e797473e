"""Resident memory of this process, for the benchmarks' memory figures (Linux's /proc)."""

from __future__ import annotations


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))


def start_peak() -> int:
    """Reset the peak-RSS counter and return the current RSS (kB): the baseline of what follows."""
    baseline = _status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return baseline


def peak_above(baseline: int) -> float:
    """The peak RSS since ``start_peak`` above its baseline, in MB."""
    return (_status_kb("VmHWM") - baseline) / 1024
