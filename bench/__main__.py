"""Run every benchmark in this folder: ``python -m bench`` (``make bench``)."""

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    for modulo in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if modulo.name.startswith("bench_"):
            print(f"\n== {modulo.name} ==", flush=True)
            sys.argv = [f"bench.{modulo.name}"]
            importlib.import_module(f"bench.{modulo.name}").main()


if __name__ == "__main__":
    main()
