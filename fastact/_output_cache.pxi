# New outputs of the softmax family (included by _rows.pyx), through a NEP 49 allocator
# that keeps a few freed ones for the next call of the same size.
#
# Why: a fresh output of megabytes is new memory to the process whenever glibc has
# handed the last one back to the kernel (it trims the heap top above a threshold, which
# the temporaries of the surrounding NumPy code cross all the time), and the kernel's
# first write to each page then faults and zeroes it. Timed between stable-NumPy
# softmaxes, a fresh 1000 x 1000 softmax took about 390 faults, and 1.6-1.7x the time of
# the same call with `out=` on AVX2. A training loop that drops one batch's outputs
# before the next batch's calls gets the same block back, its pages already mapped.
#
# What: outputs of CACHE_MIN bytes up to CACHE_BYTES are allocated through
# fastact_cache_handler (the arrays own their data as usual; NumPy calls the handler's
# free when they go). Freed blocks of that range wait in up to CACHE_SLOTS slots, the
# oldest handed back when a new one needs room; a request takes a block of exactly its
# size. Everything else goes to NumPy's default handler (misses, evictions, realloc), so
# a new block is what np.empty gives: on Linux NumPy marks blocks of 4 MiB or more for
# transparent huge pages, and a plain malloc there faulted 4-15x as often. Smaller and
# larger outputs, outputs while the caller has set an allocator of its own (NumPy's
# PyDataMem_SetHandler: tracing, pinned memory), and every other array keep the current
# allocator. FASTACT_OUTPUT_CACHE=0 in the environment at import turns the cache off
# (every output then comes from np.empty), for a program that wants no freed memory held
# back, or to measure without it. A lock guards the slots (free-threaded Python, and
# NumPy may free an array on any thread); nothing under it calls into Python, whose
# garbage collector could free a cached-size array and re-enter the lock.

cdef extern from *:
    """
    #include "pythread.h"
    #define FASTACT_CACHE_SLOTS 4
    #define FASTACT_CACHE_MIN ((size_t)1 << 20)
    #define FASTACT_CACHE_BYTES ((size_t)64 << 20)

    static struct {
        void* ptr[FASTACT_CACHE_SLOTS];     /* oldest first */
        size_t size[FASTACT_CACHE_SLOTS];
        int count;
        size_t bytes;
        PyThread_type_lock lock;
    } fastact_cache;

    static void fastact_cache_drop(int i) {
        /* Slot i leaves the cache (the caller holds the lock). */
        fastact_cache.bytes -= fastact_cache.size[i];
        for (; i + 1 < fastact_cache.count; i++) {
            fastact_cache.ptr[i] = fastact_cache.ptr[i + 1];
            fastact_cache.size[i] = fastact_cache.size[i + 1];
        }
        fastact_cache.count--;
    }

    static int fastact_cache_on = 1;      /* FASTACT_OUTPUT_CACHE, set once at import */
    static PyDataMem_Handler* fastact_cache_base = NULL;   /* NumPy's default */
    #define FASTACT_BASE (&fastact_cache_base->allocator)

    static void* fastact_cache_malloc(void* ctx, size_t size) {
        void* p = NULL;
        int i;
        (void)ctx;
        PyThread_acquire_lock(fastact_cache.lock, WAIT_LOCK);
        for (i = fastact_cache.count - 1; i >= 0; i--) {
            if (fastact_cache.size[i] == size) {
                p = fastact_cache.ptr[i];
                fastact_cache_drop(i);
                break;
            }
        }
        PyThread_release_lock(fastact_cache.lock);
        return p != NULL ? p : FASTACT_BASE->malloc(FASTACT_BASE->ctx, size);
    }

    static void* fastact_cache_calloc(void* ctx, size_t n, size_t size) {
        (void)ctx;
        return FASTACT_BASE->calloc(FASTACT_BASE->ctx, n, size);
    }

    static void* fastact_cache_realloc(void* ctx, void* p, size_t size) {
        (void)ctx;
        return FASTACT_BASE->realloc(FASTACT_BASE->ctx, p, size);
    }

    static void fastact_cache_free(void* ctx, void* p, size_t size) {
        void* gone[FASTACT_CACHE_SLOTS];
        size_t gone_size[FASTACT_CACHE_SLOTS];
        int i, n = 0;
        (void)ctx;
        if (p == NULL)
            return;
        if (size < FASTACT_CACHE_MIN || size > FASTACT_CACHE_BYTES) {
            FASTACT_BASE->free(FASTACT_BASE->ctx, p, size);
            return;
        }
        PyThread_acquire_lock(fastact_cache.lock, WAIT_LOCK);
        while (fastact_cache.count == FASTACT_CACHE_SLOTS
               || fastact_cache.bytes + size > FASTACT_CACHE_BYTES) {
            gone[n] = fastact_cache.ptr[0];
            gone_size[n++] = fastact_cache.size[0];
            fastact_cache_drop(0);
        }
        fastact_cache.ptr[fastact_cache.count] = p;
        fastact_cache.size[fastact_cache.count] = size;
        fastact_cache.count++;
        fastact_cache.bytes += size;
        PyThread_release_lock(fastact_cache.lock);
        for (i = 0; i < n; i++)     /* outside the lock */
            FASTACT_BASE->free(FASTACT_BASE->ctx, gone[i], gone_size[i]);
    }

    static PyDataMem_Handler fastact_cache_handler = {
        "fastact_output_cache", 1,
        {NULL, fastact_cache_malloc, fastact_cache_calloc, fastact_cache_realloc,
         fastact_cache_free}};
    static PyObject* fastact_cache_capsule = NULL;

    static int fastact_cache_init(void) {
        fastact_cache.lock = PyThread_allocate_lock();
        if (fastact_cache.lock == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        fastact_cache_base = (PyDataMem_Handler*)PyCapsule_GetPointer(
            PyDataMem_DefaultHandler, "mem_handler");
        if (fastact_cache_base == NULL)
            return -1;
        fastact_cache_capsule = PyCapsule_New(&fastact_cache_handler, "mem_handler", NULL);
        return fastact_cache_capsule == NULL ? -1 : 0;
    }

    static PyObject* fastact_new_output(int ndim, npy_intp* dims) {
        /* An uninitialised C-contiguous float64 array, through the cache where its size
           is in the cache's range and NumPy's default handler is the current one. */
        PyObject *old, *back, *a, *type, *value, *tb;
        npy_intp i, count = 1;
        for (i = 0; i < ndim; i++) {
            if (dims[i] > 0 && count > (npy_intp)(FASTACT_CACHE_BYTES / 8) / dims[i]) {
                /* beyond the range (or an overflow, which PyArray_EMPTY reports) */
                count = -1;
                break;
            }
            count *= dims[i];
        }
        if (!fastact_cache_on || count < (npy_intp)(FASTACT_CACHE_MIN / 8))
            return PyArray_EMPTY(ndim, dims, NPY_DOUBLE, 0);
        old = PyDataMem_GetHandler();
        if (old == NULL)
            return NULL;
        Py_DECREF(old);         /* compared by identity only; NumPy keeps it alive */
        if (old != PyDataMem_DefaultHandler)        /* the caller's own allocator */
            return PyArray_EMPTY(ndim, dims, NPY_DOUBLE, 0);
        old = PyDataMem_SetHandler(fastact_cache_capsule);
        if (old == NULL)
            return NULL;
        a = PyArray_EMPTY(ndim, dims, NPY_DOUBLE, 0);
        PyErr_Fetch(&type, &value, &tb);    /* restore the handler, keeping any error */
        back = PyDataMem_SetHandler(old);
        Py_DECREF(old);
        if (back == NULL) {
            Py_XDECREF(a);
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(tb);
            return NULL;
        }
        Py_DECREF(back);
        PyErr_Restore(type, value, tb);
        return a;
    }

    static PyObject* fastact_cache_state(void) {
        /* (blocks held, bytes held); built after the lock is released (see above) */
        int count;
        size_t bytes;
        PyThread_acquire_lock(fastact_cache.lock, WAIT_LOCK);
        count = fastact_cache.count;
        bytes = fastact_cache.bytes;
        PyThread_release_lock(fastact_cache.lock);
        return Py_BuildValue("(in)", count, (Py_ssize_t)bytes);
    }
    """
    const Py_ssize_t CACHE_SLOTS "FASTACT_CACHE_SLOTS"
    const size_t CACHE_MIN "FASTACT_CACHE_MIN"
    const size_t CACHE_BYTES "FASTACT_CACHE_BYTES"
    int cache_on "fastact_cache_on"
    int cache_init "fastact_cache_init"() except -1
    object new_output "fastact_new_output"(int ndim, cnp.npy_intp* dims)
    object cache_state "fastact_cache_state"()


cache_init()


def _cache_wanted():
    env = os.environ.get("FASTACT_OUTPUT_CACHE", "").strip()
    if env in ("", "1"):
        return True
    if env == "0":
        return False
    _import_warnings.append(
        f"FASTACT_OUTPUT_CACHE={env!r} is not 0 or 1; ignored (the cache stays on)")
    return True


cache_on = _cache_wanted()


def empty(shape):
    """An uninitialised C-contiguous float64 array of `shape` for a softmax-family
    result, through the output cache where its size is in the cache's range."""
    cdef cnp.npy_intp dims[64]
    cdef Py_ssize_t d
    shape = tuple(shape)
    if len(shape) > 64:
        return np.empty(shape)
    for d in range(len(shape)):
        dims[d] = shape[d]
    return new_output(len(shape), dims)


def cache_info():
    """Whether the cache is on (FASTACT_OUTPUT_CACHE), the freed outputs it holds now
    (blocks, bytes) and its limits (slots, min_bytes: the smallest output it takes,
    max_bytes: the largest, and its total)."""
    blocks, nbytes = cache_state()
    return {"enabled": bool(cache_on), "blocks": blocks, "bytes": nbytes,
            "slots": CACHE_SLOTS,
            "min_bytes": CACHE_MIN, "max_bytes": CACHE_BYTES}
