"""The "audit your own layer" example in docs/gradients.md runs and says what the page says."""
import contextlib
import io
import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "gradients.md"


def _example():
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Audit your own layer", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_audit_example_runs():
    namespace = {"__name__": "docs_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_example(), str(DOC), "exec"), namespace)
    report = namespace["report"]
    assert report.ok and [c.name for c in report.checks] == ["x", "a"]
    printed = out.getvalue()
    assert "gradient check failed:" in printed and "a (4,) [full]: analytic" in printed
    assert "\n  x (" not in printed          # the broken layer's input gradient is right
