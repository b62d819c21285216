# SPDX-License-Identifier: MIT
"""Module building on the host with kbuild, against the bundle's kbuild tree.

Compiler diagnostics are mapped back to the learner's cells here.
"""
