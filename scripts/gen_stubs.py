#!/usr/bin/env python3
"""Writes python/octavo/_octavo.pyi, the typed stub of the C++ extension, with nanobind's stubgen.

Run after building whenever a binding in src/python/ changes (tests/python/test_stubs.py fails
until the checked-in stub matches the extension):

    source /work/wt/devenv.sh   # or any environment where `import octavo._octavo` works
    python3 scripts/gen_stubs.py [OUTPUT.pyi]
"""
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
# stubgen leaves out __version__ (on its skip list); the pattern puts it back.
PATTERNS = "octavo._octavo.__suffix__:\n    __version__: str\n"


def main() -> int:
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "python" / "octavo" / "_octavo.pyi"
    with tempfile.TemporaryDirectory() as tmp:
        patterns = pathlib.Path(tmp) / "patterns.txt"
        patterns.write_text(PATTERNS)
        return subprocess.run([sys.executable, "-m", "nanobind.stubgen", "-q", "-m", "octavo._octavo",
                               "-p", str(patterns), "-o", str(out)]).returncode


if __name__ == "__main__":
    sys.exit(main())
