"""The softmax family's output cache (fastact/_output_cache.pxi): which outputs take it,
that a freed one comes back with the right values, its limits, threads."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from numpy._core.multiarray import get_handler_name
from numpy.testing import assert_allclose, assert_array_equal

import fastact as fa
from fastact import _rows
from _extension import build_extension
from _reference import (
    np_log_softmax, np_log_softmax_backward, np_softmax, np_softmax_backward,
    np_softmax_jacobian,
)

CACHED = "fastact_output_cache"
INFO = _rows.cache_info()
MIN_N = INFO["min_bytes"] // 8        # float64 entries in the smallest cached output
RNG = np.random.default_rng(11)
# for a run under FASTACT_OUTPUT_CACHE=0 (test_environment_switch covers both settings)
needs_cache = pytest.mark.skipif(not INFO["enabled"], reason="FASTACT_OUTPUT_CACHE=0")


def _handler(a):
    while a.base is not None:   # a view: the array that owns the memory
        a = a.base
    return get_handler_name(a)


def _x(*shape):
    return RNG.normal(scale=3, size=shape)


def test_limits():
    assert INFO["slots"] == 4
    assert INFO["min_bytes"] == 1 << 20
    assert INFO["max_bytes"] == 64 << 20


@needs_cache
def test_freed_output_comes_back_with_new_values():
    x = _x(-(-MIN_N // 250), 250)
    y = fa.softmax(x)
    assert get_handler_name(y) == CACHED
    assert y.flags.owndata and y.base is None
    address = y.ctypes.data
    del y
    assert _rows.cache_info()["blocks"] >= 1
    x2 = _x(*x.shape)
    y2 = fa.log_softmax(x2)     # the freed block, written anew
    assert y2.ctypes.data == address
    assert_allclose(y2, np_log_softmax(x2), rtol=1e-13, atol=1e-15)


@needs_cache
def test_size_range():
    assert get_handler_name(fa.softmax(_x(10))) != CACHED
    assert get_handler_name(fa.softmax(_x(MIN_N - 1))) != CACHED
    assert get_handler_name(fa.softmax(_x(MIN_N))) == CACHED
    n = INFO["max_bytes"] // 8
    assert get_handler_name(fa.softmax(np.zeros(n))) == CACHED
    assert get_handler_name(fa.softmax(np.zeros(n + 1))) != CACHED


@needs_cache
def test_every_entry_point_takes_it():
    x = _x(-(-MIN_N // 200), 200)
    g = _x(*x.shape)
    y = np_softmax(x)
    got = {
        "softmax": (fa.softmax(x), y),
        "log_softmax": (fa.log_softmax(x), np_log_softmax(x)),
        "softmax_backward": (fa.softmax_backward(g, y), np_softmax_backward(g, y)),
        "log_softmax_backward": (fa.log_softmax_backward(g, np.log(y)),
                                 np_log_softmax_backward(g, np.log(y))),
        "column path (axis=0)": (fa.softmax(x, axis=0), np_softmax(x, axis=0)),
        "general path (transposed)": (fa.softmax(x.T, axis=0), y.T),
        "general path (F order)": (fa.softmax(np.asfortranarray(x)), y),
        "general path (float32)": (fa.softmax(x.astype(np.float32)),
                                   np_softmax(x.astype(np.float32).astype(np.float64))),
    }
    xj = _x(3, 300)
    got["softmax_jacobian"] = (fa.softmax_jacobian(xj), np_softmax_jacobian(xj))
    for name, (result, expected) in got.items():
        assert _handler(result) == CACHED, name
        assert_allclose(result, expected, rtol=1e-12, atol=1e-15, err_msg=name)


@needs_cache
def test_holds_at_most_its_limits_and_keeps_the_newest():
    sizes = [MIN_N + k * 1000 for k in range(6)] + [INFO["max_bytes"] // 8 - 8]
    for n in sizes:
        y = fa.softmax(np.zeros(n))
        address = y.ctypes.data
        del y
        info = _rows.cache_info()
        assert 1 <= info["blocks"] <= INFO["slots"]
        assert info["bytes"] <= INFO["max_bytes"]
    assert info["blocks"] == 1          # the last one took all the room
    assert fa.softmax(np.zeros(sizes[-1])).ctypes.data == address
    addresses = []
    for n in sizes[:5]:                 # five blocks into four slots: the first goes
        y = fa.softmax(np.zeros(n))
        addresses.append(y.ctypes.data)
        del y
    assert _rows.cache_info()["blocks"] == 4
    back = [fa.softmax(np.zeros(n)) for n in sizes[1:5]]
    assert [y.ctypes.data for y in back] == addresses[1:]
    assert _rows.cache_info()["blocks"] == 0


def test_resize_and_copy():
    y = fa.softmax(_x(MIN_N))
    before = y.copy()
    y.resize(MIN_N + 100, refcheck=False)   # the handler's realloc
    assert_array_equal(y[:MIN_N], before)
    c = y.copy()                            # NumPy's own allocator again
    assert get_handler_name(c) != CACHED
    del y


@needs_cache
def test_threads_share_it():
    # Four threads take and free outputs of four sizes: right values, limits kept (the
    # lock's work; which thread reuses which block is left to the scheduler).
    shapes = [(-(-MIN_N // 100) + 7 * k, 100) for k in range(4)]
    inputs = [_x(*s) for s in shapes]
    expected = [np_softmax(x) for x in inputs]
    errors = []

    def work(t):
        try:
            for i in range(25):
                k = (t + i) % len(shapes)
                y = fa.softmax(inputs[k])
                if not np.allclose(y, expected[k], rtol=1e-13, atol=0):
                    errors.append((t, i))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    info = _rows.cache_info()
    assert 1 <= info["blocks"] <= INFO["slots"] and info["bytes"] <= INFO["max_bytes"]


@pytest.mark.parametrize("shape", [(0,), (0, MIN_N), (MIN_N, 0)])
def test_empty_outputs(shape):
    y = fa.softmax(np.zeros(shape))
    assert y.shape == shape
    assert get_handler_name(y) != CACHED


def test_temporaries_for_out_stay_out_of_it():
    # An out= the kernels cannot write to directly takes a temporary, copied into out:
    # NumPy's allocator, not the cache (a freed temporary would take a slot, or evict a
    # block a later result could have had). The shape is this test's own, so no cached
    # block fits a temporary.
    x = _x(-(-MIN_N // 197), 197)
    before = _rows.cache_info()
    fa.softmax(x, out=np.empty(x.shape, dtype=np.float32))             # the rows' path
    fa.softmax(x, axis=0, out=np.empty(x.shape, dtype=np.float32))     # the columns'
    fa.softmax(x.T, axis=0, out=np.empty(x.T.shape, order="F"))        # transposed
    assert _rows.cache_info() == before


def test_cache_info_under_garbage_collection():
    # cache_info builds its tuple after releasing the lock: a collection started by
    # that allocation may free a cached-size output, whose free takes the lock. A hang
    # (the lock taken twice) shows as a timeout in the child. Python 3.12 and later
    # collect at the eval breaker, not in the allocation, so only 3.10 and 3.11 can
    # show it.
    code = """
import gc
import numpy as np
import fastact as fa
from fastact import _rows

class Node:
    pass

gc.disable()
for _ in range(3):
    c = Node()
    c.me = c
    c.y = fa.softmax(np.zeros((1 << 20) // 8))
    del c
    keep = [(i, i) for i in range(5000)]   # no spare 2-tuples: the next one is new
    gc.set_threshold(1)
    gc.enable()
    _rows.cache_info()
    gc.disable()
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


USER_ALLOCATOR_C = textwrap.dedent("""
    #define PY_SSIZE_T_CLEAN
    #include <Python.h>
    #include <stdlib.h>
    #define NPY_NO_DEPRECATED_API NPY_2_0_API_VERSION
    #include <numpy/arrayobject.h>

    static void* t_malloc(void* c, size_t n) { (void)c; return malloc(n); }
    static void* t_calloc(void* c, size_t n, size_t s) { (void)c; return calloc(n, s); }
    static void* t_realloc(void* c, void* p, size_t n) { (void)c; return realloc(p, n); }
    static void t_free(void* c, void* p, size_t n) { (void)c; (void)n; free(p); }
    static PyDataMem_Handler handler = {
        "user_allocator", 1, {NULL, t_malloc, t_calloc, t_realloc, t_free}};

    static PyObject* use(PyObject* self, PyObject* on) {
        /* Set this allocator (on true) or NumPy's default in the current context. */
        PyObject* c = NULL;
        PyObject* old;
        (void)self;
        if (PyObject_IsTrue(on)) {
            c = PyCapsule_New(&handler, "mem_handler", NULL);
            if (c == NULL)
                return NULL;
        }
        old = PyDataMem_SetHandler(c);
        Py_XDECREF(c);
        return old;
    }

    static PyMethodDef methods[] = {{"use", use, METH_O, NULL}, {NULL, NULL, 0, NULL}};
    static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "user_allocator", NULL, -1,
                                     methods};
    PyMODINIT_FUNC PyInit_user_allocator(void) {
        import_array();
        return PyModule_Create(&mod);
    }
""")

USER_ALLOCATOR_SETUP = textwrap.dedent("""
    import numpy as np
    from setuptools import Extension, setup
    setup(ext_modules=[Extension("user_allocator", ["user_allocator.c"],
                                 include_dirs=[np.get_include()])])
""")


@needs_cache
def test_a_user_allocator_takes_precedence(tmp_path):
    # While a program has set a NumPy allocator of its own (PyDataMem_SetHandler, as a
    # tracing or pinned-memory allocator does), outputs take it, not the cache.
    (tmp_path / "user_allocator.c").write_text(USER_ALLOCATOR_C)
    (tmp_path / "setup.py").write_text(USER_ALLOCATOR_SETUP)
    user = build_extension(tmp_path, "user_allocator")

    x = _x(-(-MIN_N // 200), 200)
    fa.softmax(x)           # a block of this size waits in the cache
    user.use(True)
    try:
        got = [fa.softmax(x), fa.log_softmax(x), fa.softmax_jacobian(x[:4, :]),
               fa.softmax(x, axis=0), fa.softmax(x.T, axis=0)]
    finally:
        user.use(False)
    for y in got:
        assert _handler(y) == "user_allocator"
    assert_allclose(got[0], np_softmax(x), rtol=1e-13)
    assert _handler(fa.softmax(x)) == CACHED


_SWITCH = """
import numpy as np
from numpy._core.multiarray import get_handler_name
import fastact as fa
from fastact import _rows
n = (1 << 20) // 8
y = fa.softmax(np.zeros((2, n)))            # the rows' fast path
z = fa.softmax(np.zeros((2, n)), axis=0)    # the columns', through empty()
print(get_handler_name(y), get_handler_name(z))
del y, z
info = _rows.cache_info()
print(info["enabled"], info["blocks"])
fa.show_config()
"""


@pytest.mark.parametrize("value", ["0", " 0 ", "1", "", "yes"])
def test_environment_switch(value):
    env = dict(os.environ, FASTACT_OUTPUT_CACHE=value)
    done = subprocess.run([sys.executable, "-c", _SWITCH], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    if value.strip() == "0":
        assert CACHED not in lines[0]
        assert lines[1] == "False 0"
        assert lines[-1] == "output cache: off (FASTACT_OUTPUT_CACHE=0)"
    else:
        assert lines[0] == f"{CACHED} {CACHED}"
        assert lines[1] == "True 2"
        assert "holding 2, 4.0 MiB" in lines[-1]
    if value == "yes":      # raised at the import, like the other variables' warnings
        assert "<string>:4: RuntimeWarning: FASTACT_OUTPUT_CACHE='yes' is not 0 or 1" \
            in done.stderr
    else:
        assert done.stderr == ""
