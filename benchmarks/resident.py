"""Resident memory of this process, for the benchmarks' memory figures (Linux's /proc), and the
allocator settings the benchmarks run with (``--malloc``)."""

from __future__ import annotations

# default: as each framework sets malloc up (wengert raises glibc's thresholds at import);
# system: glibc's defaults everywhere; tuned: glibc's thresholds raised for every framework
MALLOC_SETTINGS = {"default": {}, "system": {"WENGERT_MALLOC": "system"},
                   "tuned": {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31)}}


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
