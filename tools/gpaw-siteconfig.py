"""GPAW build configuration for `make gpaw` (read by GPAW's setup.py through GPAW_CONFIG).

Debian 12: libxc-dev, libfftw3-dev, libopenblas-dev. gcc as the compiler fails to build
GPAW's C extension here; g++ works. Serial build (no MPI, no ScaLAPACK, no ELPA).
"""
# ruff: noqa: F821  (GPAW executes this file with these names already defined)
compiler = 'g++'
mpi = False
scalapack = False
fftw = True
libraries = ['xc', 'fftw3', 'openblas']
library_dirs = ['/usr/lib/x86_64-linux-gnu']
include_dirs = []
