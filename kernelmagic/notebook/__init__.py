# SPDX-License-Identifier: MIT
"""The notebook layer: the only code that imports IPython, ipykernel or ipywidgets.

The session, views (HTML and plain text), progress widgets, magics, the Jupyter
kernelspec and the lab extension.
"""
