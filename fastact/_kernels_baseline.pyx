# The kernels compiled for baseline x86-64 (SSE2), or the one portable build on other architectures: setup.py builds this
# module with that instruction set, and kernels.pyx imports it only on a CPU that has it.
include "_kernels_impl.pxi"
