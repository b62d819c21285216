# SPDX-License-Identifier: MIT
"""``python -m kernelmagic.cli``: the same as the ``kernelmagic`` command."""

import sys

from kernelmagic.cli.app import main

sys.exit(main())
