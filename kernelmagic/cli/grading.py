# SPDX-License-Identifier: MIT
"""``kernelmagic course nbgrader DIR``: the nbgrader course folder, and what to run next."""

from __future__ import annotations

import argparse

from kernelmagic.course.grading.coursedir import CONFIG_NAME, write_course

__all__ = ["write_nbgrader_course"]


def write_nbgrader_course(args: argparse.Namespace) -> int:
    """Write the folder; say what was written and the nbgrader commands that follow."""
    exchange = getattr(args, "exchange", None)  # --exchange DIR: a shared exchange
    done = write_course(args.dir, args.notebooks, course_id=args.course_id, exchange=exchange)
    kept = "wrote" if done.config_written else "kept the existing"
    print(f"{kept} {done.config}")
    print(f"wrote {len(done.assignments)} assignments to {done.root / 'source'}: "
          f"{', '.join(done.assignments)}")  # fmt: skip
    if not done.config_written:
        print(f"(delete {CONFIG_NAME} and run this again for a fresh one)")
    first = done.assignments[0]
    print(f"next, in {done.root}: nbgrader generate_assignment {first}, then "
          f"nbgrader release_assignment {first} (see README, Grading with nbgrader)")  # fmt: skip
    return 0
