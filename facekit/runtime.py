"""Which device the torch work runs on: CUDA when present, unless ``FACEKIT_DEVICE`` says otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def device() -> str:
    """``FACEKIT_DEVICE`` when set (``cpu``, ``cuda``, ``cuda:1``, ``mps``), else ``cuda`` when torch sees a GPU,
    else ``cpu``. Embedders, the torch detectors and training all take it from here."""
    forced = os.environ.get("FACEKIT_DEVICE", "").strip()
    if forced:
        return forced
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_kind(dev: object = None) -> str:
    """The kind of device ``dev`` names (``cuda:1`` -> ``cuda``; None -> ``cpu``). Cache keys name it where it is
    not the CPU: a GPU computes other numbers than a CPU (mixed precision, other kernels), and a CPU key stays as it
    was before devices were named, so warm CPU caches stay valid."""
    return str(dev or "cpu").split(":")[0]


class SettingError(ValueError):
    """A count in the environment (``FACEKIT_CORES``, ``FACEKIT_WORKERS``) that is not a whole number."""


def _count(var: str) -> int | None:
    """``var`` as a count of at least 1, None when unset; a value that is not a whole number is a ``SettingError``
    naming the variable and the fix."""
    value = os.environ.get(var, "").strip()
    if not value:
        return None
    try:
        return max(1, int(value))
    except ValueError:
        raise SettingError(f"{var}={value!r} is not a whole number: set it to a count such as 2, or unset it "
                           "to use every core") from None


def cores() -> int:
    """The CPU cores this process may use: ``FACEKIT_CORES`` when set (the book gives each chapter it runs side
    by side its share, so that two chapters never oversubscribe the machine), else every core."""
    forced = _count("FACEKIT_CORES")
    return forced if forced is not None else max(1, os.cpu_count() or 1)


def core_share() -> int | None:
    """This run's cores when it has a share of the machine's (``FACEKIT_CORES`` below them: a chapter the book runs
    beside another), else None. torch trains with one thread per core, and fewer threads add sums in another
    order: other weights, so a checkpoint's key names the share."""
    n = cores()
    return n if n != max(1, os.cpu_count() or 1) else None


def workers(dev: str | None = None) -> int:
    """How many processes CPU-bound work over many images may use: ``FACEKIT_WORKERS`` when set, else one per
    core this process may use (``cores()``, at most 8); 1 when the work runs on a GPU (one process feeds it)."""
    forced = _count("FACEKIT_WORKERS")
    if forced is not None:
        return forced
    if (dev or device()).startswith("cuda"):
        return 1
    return min(8, cores())


_CAPPED: list[int] = []
#: the math libraries' thread variables, read when a process starts
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def share_env(n: int) -> dict[str, str]:
    """The environment that gives a child process ``n`` cores: ``FACEKIT_CORES`` (its pools and ONNX Runtime
    sessions) and the math libraries' thread variables (torch, BLAS), read when the child starts."""
    return {"FACEKIT_CORES": str(n), **{var: str(n) for var in THREAD_VARS}}


def cap_threads(n: int) -> None:
    """Limit this process's math libraries to ``n`` threads (torch, OpenCV, OpenMP/BLAS, and the ONNX Runtime
    sessions made after it: ``threads()``), so that several worker processes never oversubscribe the cores."""
    _CAPPED[:] = [n]
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:
        pass


def threads() -> int:
    """The threads this process's math libraries may use: the cap ``cap_threads`` set, else one per core it may
    use (``cores()``)."""
    return _CAPPED[0] if _CAPPED else cores()


def processor(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``, else ``platform.processor()``), so that a timing names the
    machine kind it was measured on: this project's 2-core machines come in kinds that train about 1.6 times apart."""
    import platform

    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"


def describe(dev: str | None = None) -> str:
    """One line naming the device (the GPU's name on CUDA, the CPU's model name otherwise), printed by every
    chapter."""
    dev = dev or device()
    if dev.startswith("cuda"):
        import torch

        idx = torch.device(dev).index or 0
        return f"{dev} ({torch.cuda.get_device_name(idx)})"
    share = f", {core_share()} for this run" if core_share() else ""
    return f"{dev} ({processor()}, {os.cpu_count()} CPU cores{share})"


def in_batches(items: list, size: int, desc: str, progress: bool = True, unit: str = "img"):
    """``items`` in chunks of ``size`` under one progress bar (hidden when there is nothing to do)."""
    from tqdm.auto import tqdm

    with tqdm(total=len(items), desc=desc, unit=unit, disable=not progress or not items) as bar:
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            yield chunk
            bar.update(len(chunk))


def pooled(work, items: list, batch_size: int, processes: int, initializer, initargs: tuple, desc: str,
           progress: bool = True):
    """``work(batch)`` over ``items`` in batches, on ``processes`` spawned processes (each set up once by
    ``initializer(*initargs)``): the results in completion order, under one progress bar counting what each
    returned. Spawned, never forked: a forked copy of running torch/OpenMP threads can deadlock."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    chunks = [items[k:k + batch_size] for k in range(0, len(items), batch_size)]
    with ProcessPoolExecutor(processes, mp_context=mp.get_context("spawn"), initializer=initializer,
                             initargs=initargs) as pool, \
            tqdm(total=len(items), desc=desc, unit="img", disable=not progress) as bar:
        for fut in as_completed([pool.submit(work, c) for c in chunks]):
            done = fut.result()
            bar.update(len(done))
            yield done
