"""JUnit XML for gate results: one testcase per gate per artifact x runtime x dataset.

CI systems (GitHub Actions test reporters, GitLab, Jenkins) render this
format on pull requests. Failures carry the measured value and the bound.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from sropt.core.atomic import write_text_atomic
from sropt.pipeline.gates import GateResult, GateStatus


def junit_xml(results: list[GateResult], *, suite: str = "sropt.gates") -> str:
    """The JUnit XML document for ``results`` as a string."""
    root = ET.Element("testsuites")
    ts = ET.SubElement(
        root, "testsuite", name=suite, tests=str(len(results)),
        failures=str(sum(r.status is GateStatus.FAIL for r in results)),
        errors=str(sum(r.status is GateStatus.ERROR for r in results)),
        skipped=str(sum(r.status is GateStatus.SKIP for r in results)),
    )
    for r in results:
        where = " / ".join(x for x in (r.stage, r.runtime, r.dataset) if x)
        tc = ET.SubElement(ts, "testcase", classname=f"{suite}.{r.metric}", name=f"{r.gate} [{where}]" if where else r.gate)
        if r.status is GateStatus.FAIL:
            ET.SubElement(tc, "failure", message=r.message, type="GateFailure").text = f"{r.artifact}: {r.message}"
        elif r.status is GateStatus.ERROR:
            ET.SubElement(tc, "error", message=r.message, type="GateError").text = f"{r.artifact}: {r.message}"
        elif r.status is GateStatus.SKIP:
            ET.SubElement(tc, "skipped", message=r.message)
        else:
            ET.SubElement(tc, "system-out").text = r.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(results: list[GateResult], path: Path, *, suite: str = "sropt.gates") -> Path:
    """Write the JUnit XML of ``results`` to ``path`` atomically."""
    return write_text_atomic(Path(path), junit_xml(results, suite=suite))
