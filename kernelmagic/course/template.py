# SPDX-License-Identifier: MIT
"""A new lesson from a template: ``kernelmagic course new NN_topic``.

Writing a lesson took guessing: the kernel's name, the ``parameters`` tag, where the
solution markers go, that a demo must not load an exercise's module (in the student
version that module is a skeleton). The template answers all of it with a lesson that
runs as it is: objectives, the folded instructor set-up (parameters and their check), an
exercise in a ``%%kmodule`` cell with a solution region, a check cell, a summary, and an
``instructor-only`` note. It passes the repository's lesson-structure tests
(``tests/course/test_lessons.py``), and its student version builds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kernelmagic.course.tags import INSTRUCTOR_ONLY, PARAMETERS
from kernelmagic.errors import UsageError
from kernelmagic.files import write_atomically
from kernelmagic.names import check_identifier

__all__ = ["KERNEL_DISPLAY_NAME", "KERNEL_NAME", "lesson_notebook", "module_source", "new_lesson"]

#: The course's Jupyter kernel (kernelmagic.notebook.kernelspec, which this layer may not
#: import; a test keeps the two equal).
KERNEL_NAME = "kernelmagic"
KERNEL_DISPLAY_NAME = "Kernel Lab (Python 3)"

_LESSON = re.compile(r"(?P<number>\d+)_(?P<topic>[A-Za-z0-9_]+)")

_C = """\
// SPDX-License-Identifier: GPL-2.0
/*
 * {module}.c - the exercise of lesson {number}: greet the name given at load time.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>

static char *who = "world";
module_param(who, charp, 0444);
MODULE_PARM_DESC(who, "whom to greet");

static int __init {module}_init(void)
{{
\t/* TODO: log "{module}: hello, WHO" with pr_info(), WHO being the parameter who */
\t/* BEGIN SOLUTION */
\tpr_info("{module}: hello, %s\\n", who);
\t/* END SOLUTION */
\treturn 0;
}}

static void __exit {module}_exit(void)
{{
\tpr_info("{module}: goodbye\\n");
}}

module_init({module}_init);
module_exit({module}_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("The exercise of lesson {number}");
"""

_CHECK = """\
from kernelmagic.course import check

check.check_all(
    lambda: check.log_contains(
        f"{module}: hello, {{who}}", since_load="{module}",
        hint=("the init function runs at load time: what does it log?",
              "pr_info() takes a format and its values, as printf() does",
              # BEGIN INSTRUCTOR ONLY
              'pr_info("{module}: hello, %s\\\\n", who);',
              # END INSTRUCTOR ONLY
              )),
    module="{module}", loaded=True,
)"""

_REQUIRE = """\
from kernelmagic import course

import shlex

course.require_parameter("who", who,
                         isinstance(who, str) and who.strip() == who != ""
                         and who.isprintable() and '"' not in who,
                         "a name without surrounding spaces, control characters or \\"")"""


def _module_name(lesson: str, module: str | None) -> str:
    if module is not None:
        return check_identifier(module)
    topic = _number_and_topic(lesson)[1].lower()
    name = re.sub(r"\W+", "_", topic).strip("_") or "exercise"
    if not name[0].isalpha():
        name = f"km_{name}"
    return check_identifier(f"km_{name}" if len(name) < 3 else name[:40])


def _number_and_topic(lesson: str) -> tuple[str, str]:
    match = _LESSON.fullmatch(lesson)
    return (match["number"], match["topic"]) if match else ("NN", lesson)


def module_source(module: str, number: str) -> str:
    """The C of the template's exercise, solution in (``modules/MODULE.c``)."""
    return _C.format(module=module, number=number)


def lesson_notebook(lesson: str, module: str) -> Any:
    """The template lesson ``lesson`` (e.g. ``18_timers``) as an nbformat notebook."""
    import nbformat  # only course tooling needs it
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    number, topic = _number_and_topic(lesson)
    topic = topic.replace("_", " ")
    folded = {"jupyter": {"source_hidden": True}}
    cells = [
        new_markdown_cell(
            f"# {number} · {topic.capitalize()}\n\n"
            "**In this lesson you will**\n\n"
            f"- write a module that reads a parameter and logs it\n"
            "- load it in the lab VM and see its line in the kernel log\n"
            "- (replace these objectives with the lesson's own)"
        ),
        new_markdown_cell(
            "*Notes for the instructor:* this cell is tagged `instructor-only`, so student "
            "versions (`kernelmagic course student`, nbgrader) leave it out. Tag a cell "
            "`expected-failure` when it fails on purpose (the batch report then shows it as "
            "an expected failure), and keep every demo before the exercise away from the "
            "exercise's module: in the student version it is a skeleton.",
            metadata={"tags": [INSTRUCTOR_ONLY]},
        ),
        new_markdown_cell(
            "*Instructor set-up, folded:* the lesson's parameters (papermill may change "
            "them), then a check that stops a batch run with a clear message when a value "
            "makes no sense. Click the cells to unfold them.",
            metadata={"tags": [INSTRUCTOR_ONLY]},
        ),
        new_code_cell('who = "world"', metadata={"tags": [PARAMETERS], **folded}),
        new_code_cell(_REQUIRE, metadata=dict(folded)),
        new_markdown_cell(
            "## The idea\n\nExplain the lesson's subject here, in your own words, with cells "
            "that run in the lab VM. This one asks the guest which kernel it runs:"
        ),
        new_code_cell("%vmsh uname -r", metadata={"tags": ["nbval-ignore-output"]}),
        new_markdown_cell(
            f"## Exercise: greet whoever `who` names\n\n`{module}.c` has a parameter `who`. "
            f"Complete the TODO in its init function so that loading it logs "
            f"`{module}: hello, WHO`. Run the cell (it builds the module), then the next "
            "two cells: they load it and check the kernel log."
        ),
        new_code_cell(f"%%kmodule {module}\n" + module_source(module, number).rstrip("\n")),
        new_code_cell(f"%insmod {module} who={{shlex.quote(who)}}"),
        new_code_cell(_CHECK.format(module=module)),
        new_code_cell(f"%rmmod {module}"),
        new_markdown_cell(
            "## Summary\n\n- a module parameter is set at load time: `%insmod NAME key=value`\n"
            "- a check cell verifies the exercise in the VM and says what to fix"
        ),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": KERNEL_NAME,
    }  # fmt: skip
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    return nb


def new_lesson(
    lesson: str, folder: Path | str, *, module: str | None = None, modules_dir: Path | None = None
) -> list[Path]:
    """Write ``folder/LESSON.ipynb`` (and ``modules_dir/MODULE.c``); returns what was written.

    Without ``modules_dir``, the reference C goes into ``modules/`` beside ``folder``
    when there is one (the repository's layout, whose tests compare cell and file).
    Existing files are never overwritten.
    """
    import nbformat

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", lesson):
        raise UsageError(
            f"{lesson!r} is not a lesson name: use letters, digits, _ and -, e.g. 18_timers"
        )
    folder = Path(folder)
    name = _module_name(lesson, module)
    target = folder / f"{lesson}.ipynb"
    if modules_dir is None and (folder.resolve().parent / "modules").is_dir():
        modules_dir = folder.resolve().parent / "modules"
    reference = modules_dir / f"{name}.c" if modules_dir is not None else None
    for path in (target, reference):
        if path is not None and path.exists():
            raise UsageError(f"{path} exists already; choose another lesson or --module name")
    nb = lesson_notebook(lesson, name)
    write_atomically(target, nbformat.writes(nb) + "\n")
    written = [target]
    if reference is not None:
        write_atomically(reference, module_source(name, _number_and_topic(lesson)[0]))
        written.append(reference)
    return written
