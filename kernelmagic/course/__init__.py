# SPDX-License-Identifier: MIT
"""The course: lesson checks (``check``), lesson helpers and student versions.

Lessons use ``from kernelmagic.course import check`` and the helpers named here.
"""

from kernelmagic.course.student import (
    build_user_program,
    guest_write,
    kmodule_cells,
    make_student_version,
    make_student_versions,
    require_parameter,
    strip_solutions,
    user_program,
)

__all__ = [
    "build_user_program",
    "guest_write",
    "kmodule_cells",
    "make_student_version",
    "make_student_versions",
    "require_parameter",
    "strip_solutions",
    "user_program",
]
