"""The hot, bytes-level kernels, twice: compiled (``_core_c``) and pure (``_core_py``).

``core`` selects the twin; the layers above look names up there at call
time.  ``consts``, ``values`` and ``pgtypes`` hold what both twins share,
so that each constant, check and type table exists once.  This package
imports nothing at import time: ``errors`` and ``options`` use ``values``
without loading a twin.
"""
