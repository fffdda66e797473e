"""The process group: every process that ``mpiexec`` started, ranked 0..world_size-1 (MPI_COMM_WORLD).

wengert runs distributed on MPI only, so ``init_process_group(backend="mpi")`` is all there is to
choose; it happens by itself on first use. Under a plain ``python`` (no ``mpiexec``) the group is
this one process, with or without mpi4py installed, and every collective is the identity.

A rank that raises while its peers wait in a collective would hang the job: initialisation installs
an exception hook that prints the traceback under the rank's name and aborts the whole job.
"""

from __future__ import annotations

import contextlib
import enum
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

from ..core.errors import OpValueError, call_site


class ReduceOp(enum.Enum):
    """How ``all_reduce`` and ``reduce`` combine the ranks' values (PyTorch's ``dist.ReduceOp``)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


class _Group:
    """What the group knows: the communicator (None when mpi4py is absent), this rank and the size."""

    def __init__(self, communicator: Any, rank: int, world_size: int) -> None:
        self.communicator = communicator
        self.rank = rank
        self.world_size = world_size


_group: _Group | None = None
_previous_excepthook: Any = None

# The environment variables that launchers set in each process they start: seeing one without
# mpi4py means the user meant several processes, and a silent world of size 1 would be wrong.
_LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def init_process_group(backend: str = "mpi") -> None:
    """Join the group of processes that ``mpiexec`` started (PyTorch's ``init_process_group``).

    Only ``backend="mpi"`` exists: wengert communicates through MPI (mpi4py), not gloo or nccl.
    Calling it again is harmless. Also installs the exception hook that aborts the whole job when
    any rank dies of an uncaught exception, so that its peers never wait for it forever.
    """
    global _group, _previous_excepthook
    if backend != "mpi":
        raise OpValueError(f"init_process_group: backend {backend!r} is not available; wengert runs on MPI "
                           f"only: use backend='mpi' and start the processes with mpiexec (at {call_site()})")
    if _group is not None:
        return
    try:
        from mpi4py import MPI
    except ImportError as error:
        if any(name in os.environ for name in _LAUNCHER_VARIABLES):
            raise ImportError("wengert.distributed: this process was started by an MPI launcher but mpi4py is "
                              "not installed: pip install 'wengert[distributed]'") from error
        _group = _Group(None, 0, 1)
        return
    communicator = MPI.COMM_WORLD
    _group = _Group(communicator, communicator.Get_rank(), communicator.Get_size())
    if _group.world_size > 1 and sys.excepthook is not _abort_on_uncaught_exception:
        _previous_excepthook = sys.excepthook
        sys.excepthook = _abort_on_uncaught_exception


def group() -> _Group:
    """The process group, initialised on first use."""
    if _group is None:
        init_process_group()
    return _group  # type: ignore[return-value]


def is_initialized() -> bool:
    """Whether this process has joined its group (explicitly or by a first collective)."""
    return _group is not None


def get_rank() -> int:
    """This process's rank, 0 to ``get_world_size() - 1``: 0 under a plain ``python``."""
    return group().rank


def get_world_size() -> int:
    """The number of processes in the group: 1 under a plain ``python``."""
    return group().world_size


def barrier() -> None:
    """Wait until every rank has called ``barrier()``."""
    communicator = group().communicator
    if communicator is not None:
        communicator.Barrier()


def destroy_process_group() -> None:
    """Leave the group: ``is_initialized()`` is False again and the aborting exception hook is removed.

    MPI itself stays initialised until the process exits (MPI cannot be started twice in a process),
    so a later collective or ``init_process_group`` joins the same group again.
    """
    global _group, _previous_excepthook
    if sys.excepthook is _abort_on_uncaught_exception:
        sys.excepthook = _previous_excepthook or sys.__excepthook__
    _previous_excepthook = None
    _group = None


@contextlib.contextmanager
def abort_on_failure() -> Iterator[None]:
    """Within it, a ``SystemExit`` with a non-zero status (``sys.exit(2)``, argparse's errors) on one rank
    aborts the whole job, as an uncaught exception does after ``init_process_group``.

    Python runs no exception hook for ``SystemExit``, and MPI's finalisation at exit waits for every rank:
    a rank that leaves early with an error while the others wait for it in a collective would hang the
    job. Wrap a program's main function in it when some ranks may stop on their own (only rank 0 checks
    its output folder, say). A status of 0 or None leaves normally (the other ranks may still be working).
    """
    try:
        yield
    except SystemExit as exit:
        if exit.code not in (None, 0) and _group is not None and _group.world_size > 1:
            status = exit.code if isinstance(exit.code, int) else 1
            if not isinstance(exit.code, int):
                sys.stderr.write(f"{exit.code}\n")
            _abort(f"wengert.distributed: rank {_group.rank} of {_group.world_size} exited with status {status}; "
                   "aborting all ranks.\n", status)
        raise


def abort(status: int = 1, message: str = "") -> None:
    """End every rank of the job with ``status`` (MPI_Abort), after writing ``message`` to stderr: for a
    rank that stops while the others may be waiting for it in a collective. Nothing in a group of one."""
    if _group is not None and _group.world_size > 1:
        _abort(message, status)


def _abort(message: str, status: int) -> None:
    """Write ``message``, give mpiexec time to pass it on, and end every rank of the job with ``status``."""
    try:
        sys.stderr.write(message)
        sys.stderr.flush()
        sys.stdout.flush()
    finally:
        time.sleep(0.3)  # mpiexec forwards output asynchronously: an abort at once can drop the last lines
        from mpi4py import MPI

        MPI.COMM_WORLD.Abort(status)


def _abort_on_uncaught_exception(kind: type, value: BaseException, trace: Any) -> None:
    """Print the traceback under this rank's name, give mpiexec time to pass it on, and abort every rank:
    the others may be waiting for this one in a collective and would otherwise wait forever."""
    rank, size = (_group.rank, _group.world_size) if _group is not None else ("?", "?")
    lines = "".join(traceback.format_exception(kind, value, trace))
    _abort(f"wengert.distributed: rank {rank} of {size} raised an uncaught exception; aborting all ranks.\n"
           + "".join(f"[rank {rank}] {line}\n" for line in lines.splitlines()), 1)


def find_mpiexec() -> str:
    """The ``mpiexec`` to launch with: the one installed next to this Python (the ``mpich`` wheel puts it
    in the environment's ``bin``), else the first on ``PATH``."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError("wengert.distributed: no mpiexec next to this Python or on PATH: "
                                "pip install 'wengert[distributed]' (it brings MPICH's mpiexec)")
    return found


def mpiexec_command(world_size: int, *arguments: str) -> list[str]:
    """The command that runs ``python arguments...`` on ``world_size`` ranks with MPICH's ``mpiexec``,
    as a list for ``subprocess``. ``-print-all-exitcodes`` makes mpiexec list every rank's exit status
    in rank order when one dies: a rank killed by a signal, or that calls ``os._exit``, cannot say so
    itself."""
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise OpValueError(f"mpiexec_command: world_size must be a positive int, got {world_size!r}")
    return [find_mpiexec(), "-print-all-exitcodes", "-n", str(world_size), sys.executable, *arguments]
