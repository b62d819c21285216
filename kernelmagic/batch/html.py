# SPDX-License-Identifier: MIT
"""``report.html``: one self-contained page for an instructor to read after a batch run.

No script, no stylesheet or font from elsewhere: it opens from a mail attachment or a
course server as well as from disk. At the top the summary table (each notebook, its
result, how long it took, where it failed, the memory it used), then one section per
notebook that did not pass, with the failing cell, its error and the end of the guest's
kernel log. Cells that fail on purpose are listed as "expected failure", apart.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

from kernelmagic.batch.results import BatchReport, NotebookResult, duration
from kernelmagic.files import write_atomically

__all__ = ["render_html", "write_html"]

_COLOURS = {
    "passed": ("#1a7f37", "#dafbe1"),
    "failed": ("#cf222e", "#ffebe9"),
    "timed out": ("#9a6700", "#fff8c5"),
    "kernel died": ("#cf222e", "#ffebe9"),
    "error": ("#6e7781", "#f6f8fa"),
}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 72em; padding: 0 1em; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #d0d7de; }
.meta { color: #59636e; margin: 0 0 1em 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.35em 0.6em; border-bottom: 1px solid #d0d7de;
         vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; white-space: nowrap; }
.badge { display: inline-block; padding: 0.05em 0.6em; border-radius: 1em;
         font-weight: 600; white-space: nowrap; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 0.6em;
      overflow-x: auto; white-space: pre-wrap; font-size: 0.85em; }
.note { color: #59636e; }
.expected { color: #59636e; font-style: italic; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _badge(status: str) -> str:
    fg, bg = _COLOURS.get(status, ("#1f2328", "#f6f8fa"))
    return f'<span class="badge" style="color:{fg};background:{bg}">{_e(status)}</span>'


def _anchor(result: NotebookResult) -> str:
    return "nb-" + quote(result.name, safe="")


def _row(result: NotebookResult) -> str:
    name = _e(result.name)
    if not result.passed:
        name = f'<a href="#{_anchor(result)}">{name}</a>'
    notes = [_e(result.where())] if not result.passed else []
    if result.expected_failures:
        n = len(result.expected_failures)
        notes.append(f'<span class="expected">{n} expected failure{"s" if n > 1 else ""}</span>')
    if result.unknown_parameters:
        notes.append(_e(f"parameters it does not declare: {', '.join(result.unknown_parameters)}"))
    memory = f"{result.peak_mib:.0f} MiB" if result.peak_mib else "-"
    return (
        f"<tr><td>{name}</td><td>{_badge(result.status)}</td>"
        f'<td class="num">{_e(duration(result.seconds))}</td>'
        f'<td class="num">{result.cells_run} / {result.cells}</td>'
        f'<td class="num">{memory}</td><td>{"<br>".join(notes)}</td></tr>'
    )


def _section(result: NotebookResult) -> str:
    executed = "none"
    if result.output:
        executed = f'<a href="{_e(quote(result.output))}">{_e(result.output)}</a>'
    parts = [
        f'<h2 id="{_anchor(result)}">{_e(result.name)} {_badge(result.status)}</h2>',
        f'<p class="meta">{_e(duration(result.seconds))} · executed notebook: {executed} · '
        f"source: {_e(result.source)}</p>",
    ]
    if result.message:
        parts.append(f"<p>{_e(result.message)}</p>")
    failure = result.failure or result.running_cell
    if failure is not None:
        what = "failed" if result.failure is not None else "was running when it was stopped"
        parts.append(f"<p><b>{_e(failure.label)}</b> {what}:</p><pre>{_e(failure.source)}</pre>")
    if result.failure is not None:
        error = f"{result.failure.ename}: {result.failure.evalue}".strip(": ")
        parts.append(f"<p><b>Error</b></p><pre>{_e(error)}</pre>")
        if result.failure.traceback and result.failure.traceback.strip() != error:
            parts.append(
                f"<details><summary>the whole error output</summary>"
                f"<pre>{_e(result.failure.traceback)}</pre></details>"
            )
    if result.kernel_log:
        n = len(result.kernel_log)
        last = "the last line" if n == 1 else f"the last {n} lines"
        if result.kernel_log_source == "console":
            where = ("the VM's serial console, read from outside the kernel (it records "
                     "warnings and worse: oopses, panics, hung tasks, lockups)")  # fmt: skip
        else:
            where = "the guest's kernel log (dmesg)"
        parts.append(
            f"<p><b>Kernel log</b>, {last} of {_e(where)}:</p>"
            f"<pre>{_e(chr(10).join(result.kernel_log))}</pre>"
        )
    parts.append(_expected(result))
    return "\n".join(parts)


def _expected(result: NotebookResult) -> str:
    if not result.expected_failures:
        return ""
    items = "".join(
        f"<li>cell {e.cell}: expected failure"
        f"{'' if e.raised else ' (caught in the cell)'}: {_e(e.summary)}</li>"
        for e in result.expected_failures
    )
    return f'<p class="note">Cells that fail on purpose:</p><ul class="expected">{items}</ul>'


def render_html(report: BatchReport) -> str:
    """The report page as text."""
    verdict = "every notebook passed" if report.ok else "not every notebook passed"
    params = ", ".join(f"{k} = {v!r}" for k, v in report.parameters.items()) or "none"
    peak = max((r.peak_mib for r in report.notebooks), default=0.0)
    rows = "\n".join(_row(r) for r in report.notebooks)
    sections = "\n".join(_section(r) for r in report.notebooks if not r.passed)
    passed_with_notes = [r for r in report.notebooks if r.passed and r.expected_failures]
    if passed_with_notes:
        sections += "\n<h2>Expected failures in notebooks that passed</h2>\n" + "\n".join(
            f"<h3>{_e(r.name)}</h3>{_expected(r)}" for r in passed_with_notes
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kernelmagic batch: {_e(report.summary())}</title>
<style>{_STYLE}</style></head>
<body>
<h1>Batch run: {_e(verdict)}</h1>
<p class="meta">{_e(report.summary())} · started {_e(report.started)} ·
kernel {_e(report.kernel_release)} · {report.workers} at a time ·
deadline {_e(duration(report.timeout))} per notebook · parameters: {_e(params)} ·
peak memory of one worker (Jupyter kernel + VM): {peak:.0f} MiB</p>
<table>
<thead><tr><th>notebook</th><th>result</th><th>duration</th><th>cells run</th>
<th>peak memory</th><th>notes</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{sections}
</body></html>
"""


def write_html(report: BatchReport, path: Path) -> None:
    write_atomically(path, render_html(report))
