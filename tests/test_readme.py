"""The README's Python blocks run as written and print what they claim."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _expected_output(block: str) -> str:
    return "\n".join(line[2:] for line in block.splitlines() if line.startswith("# "))


def test_readme_has_a_tour():
    assert len(_python_blocks()) >= 3


def test_readme_blocks_run_and_print_what_they_say():
    namespace: dict = {}
    for block in _python_blocks():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(README), "exec"), namespace)
        expected = _expected_output(block)
        assert out.getvalue().strip() == expected.strip(), block
