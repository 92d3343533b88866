# The kernels compiled for x86-64-v4 (AVX-512): setup.py builds this
# module with that instruction set, and kernels.pyx imports it only on a CPU that has it.
include "_kernels_impl.pxi"
