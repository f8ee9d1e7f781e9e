"""A throwaway Django project run in a subprocess, as a newcomer's would run.

The suite's own settings use the locmem backend and the test database: only a real
settings module, in a fresh interpreter without the caller's ``META_``/``DJANGO_``/...
variables, shows what ``migrate``, ``check`` or ``shell`` do in a new project.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def django_en(
    carpeta: Path, ajustes: str, *, sin: tuple[str, ...] = ("META_", "DJANGO_")
) -> Callable[..., subprocess.CompletedProcess]:
    """``python -m django <args> --settings=<ajustes>`` run in ``carpeta``.

    ``ajustes`` is a module in ``carpeta``; environment variables starting with any of
    ``sin`` are left out, so the developer's own credentials never leak into the project.
    """
    entorno = {clave: valor for clave, valor in os.environ.items() if not clave.startswith(sin)}
    entorno["PYTHONPATH"] = str(carpeta)

    def django(*argumentos: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "django", *argumentos, f"--settings={ajustes}"],
            cwd=carpeta,
            env=entorno,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return django
