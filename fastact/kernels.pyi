# kernels has no Python-level API: it is cimported (`from fastact cimport kernels`);
# see kernels.pxd for the C signatures.
