"""Builds the Cython kernels; metadata lives in pyproject.toml.

``PGCOPY_FAST_IMPL=python`` builds no extension (the pure twin serves).
Otherwise a failed compile fails the install: a silent fallback would ship
the slow twin to users who asked for the fast one.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PURE = os.environ.get("PGCOPY_FAST_IMPL", "").strip().lower() == "python"


class LoudBuildExt(build_ext):
    """build_ext that names the way out when the compile fails."""

    def run(self):
        try:
            super().run()
        except Exception as exc:
            sys.stderr.write(
                "\npgcopy_fast: building the Cython extension failed: "
                f"{exc}\nInstall a C compiler and the Python headers, or set "
                "PGCOPY_FAST_IMPL=python to install the pure-Python twin "
                "without building anything.\n\n"
            )
            raise


def extensions():
    if PURE:
        return []
    from Cython.Build import cythonize

    return cythonize(
        [
            Extension(
                "pgcopy_fast.kernels._core_c",
                ["pgcopy_fast/kernels/_core_c.pyx"],
                depends=[
                    "pgcopy_fast/kernels/_rows_c.pxi",
                    "pgcopy_fast/kernels/_codecs_c.pxi",
                    "pgcopy_fast/kernels/_core_c.pxd",
                    "pgcopy_fast/kernels/_arrow_abi.pxd",
                    "pgcopy_fast/kernels/_arrow_in_c.pxi",
                    "pgcopy_fast/kernels/_arrow_out_c.pxi",
                ],
            )
        ],
        compiler_directives={"language_level": "3"},
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": LoudBuildExt})
