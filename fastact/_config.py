"""fastact.show_config(): which kernel variant runs, which exist, their flags, threads."""

from __future__ import annotations

import numpy as np

from fastact import kernels


def show_config() -> None:
    """Print the chosen and available kernel variants, their compiler flags and threads.

    The variant is the best instruction set this CPU runs (``FASTACT_ISA`` can force a
    lower one: ``baseline``, ``avx2`` or ``avx512``); the thread count comes from
    :func:`fastact.set_num_threads` or ``FASTACT_NUM_THREADS``, capped by OpenMP's limit.
    The last line tells what the softmax family's output cache holds, or that
    ``FASTACT_OUTPUT_CACHE=0`` turned it off.
    """
    from fastact import __version__

    available = kernels.supported_variants()
    lines = [
        f"fastact {__version__} (numpy {np.__version__})",
        f"kernel variant: {kernels.variant}",
        "available variants:",
    ]
    for name in available:
        mark = "*" if name == kernels.variant else " "
        lines.append(f"  {mark} {name:<9} {kernels.variant_flags(name)}")
    missing = [v for v in kernels.VARIANTS if v not in available]
    if missing:
        lines.append(f"not usable here: {', '.join(missing)} (CPU or build lacks them)")
    from fastact._build_info import OPENMP_FLAGS
    openmp = f"OpenMP on, {OPENMP_FLAGS}" if kernels.has_openmp() else "OpenMP off in this build"
    lines.append(f"threads: {kernels.get_num_threads()} ({openmp})")
    from fastact import _rows
    c = _rows.cache_info()
    mib = 1 << 20
    if c["enabled"]:
        lines.append(
            f"output cache: softmax-family outputs of {c['min_bytes'] // mib}-"
            f"{c['max_bytes'] // mib} MiB, up to {c['slots']} freed ones kept for reuse "
            f"(holding {c['blocks']}, {c['bytes'] / mib:.1f} MiB)"
        )
    else:
        lines.append("output cache: off (FASTACT_OUTPUT_CACHE=0)")
    print("\n".join(lines))
