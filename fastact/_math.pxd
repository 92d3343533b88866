# Scalar math of every elementwise activation: one `cdef inline ... noexcept nogil`
# function per formula, for the array kernels (_kernels_impl.pxi, compiled once per
# instruction set). Swapping the math happens here only.
#
# Everything is branchless and calls no libm function, so that GCC vectorizes the loops
# over these helpers (with -fno-trapping-math): exp is a Cody-Waite reduction, a degree-11
# polynomial and a 2^k scale built from integer bits; tanh near 0 a rational function;
# selects replace branches. One exception, in C intrinsics: with AVX-512 the exp of the
# elementwise kernels and of the softmax family's slices of 32 or more looks 2^(j/16) up
# in a 16-entry table held in registers, which GCC's vectorizer cannot express
# (exp_neg_block, for tanh; the whole of sigmoid, sigmoid' and tanh' in one
# software-pipelined loop, fastact_pipelined; _softmax_lanes.pxi).
#
# Conventions: f_<name>(x) is the forward value, d_<name>(x) the derivative at the input,
# b_<name>(g, y) the backward product from the saved forward output y. The exp-based ones
# come in two parts, f_<name>_arg(x), the argument a <= 0 of their exp, and
# f_<name>(x, s), the rest from s = e^a 2^128, which the kernels compute in between
# (_exp_scaled), in one loop or split into several (_exp_blocks in _elementwise.pxi
# says why).

from libc.math cimport INFINITY, fabs, copysign

cdef extern from "<math.h>" nogil:
    # Quiet comparisons: false for NaN without raising FE_INVALID where the compiler keeps
    # them scalar (vectorized compares may still raise it; _ufuncs.pyx clears the flag).
    bint isgreater(double x, double y)
    bint islessequal(double x, double y)


ctypedef union _Bits:
    double d
    unsigned long long u


# Constants as C `static const`: a .pxd cannot hold initialised variables.
cdef extern from *:
    """
    /* 1.5 * 2^52: adding it rounds a double of magnitude < 2^51 to an integer, which
       then sits in the low mantissa bits (no float-to-int conversion, which AVX2 cannot
       vectorize for 64-bit integers). _BIAS adds the exponent bias 1023 on top. */
    static const double fastact_SHIFT = 6755399441055744.0;
    static const double fastact_SHIFT_BIAS = 6755399441056767.0;
    static const double fastact_INV_LN2 = 1.4426950408889634;
    /* ln 2 = HI + LO, HI with 12 trailing zero bits so that k * HI is exact */
    static const double fastact_LN2_HI = 0.693147180559663;
    static const double fastact_LN2_LO = 2.8235290563031577e-13;
    /* exp underflows to 0 below -745.14 */
    static const double fastact_EXP_MIN = -746.0;
    /* Powers of two for the activations, which take s = e^x 2^128 (_neg_arg) and sums
       scaled to match */
    static const double fastact_TWO_M128 = 2.938735877055719e-39;
    static const double fastact_TWO_M130 = 7.346839692639297e-40;     /* 2^-130 */
    static const double fastact_TWO_P126 = 8.507059173023462e+37;     /* 2^126 */
    static const double fastact_TWO_P128 = 3.402823669209385e+38;     /* 2^128 */
    /* f_sigmoid's 1 / (1 + t) ~ (16 - 8t) / 17, for s = t 2^128: 16/17 2^-128 and
       8/17 2^-256 (the double constants times exact powers of two) */
    static const double fastact_SIG_C0 = 0.9411764705882353 * 2.938735877055719e-39;
    static const double fastact_SIG_C1 = 0.47058823529411764 * 2.938735877055719e-39
                                         * 2.938735877055719e-39;
    /* the softmax family's terms: e^(x - m) is taken as 0 below this (n terms of
       e^-790 < 2^-1139 cannot add up to a subnormal's half ulp) */
    static const double fastact_TERM_MIN = -790.0;
    /* d_tanh's argument -2|x| is clamped here, below 4t's underflow */
    static const double fastact_D_TANH_ARG_MIN = -760.0;
    /* e^r = 1 + r + r^2 G(r) on |r| <= ln2/2 (tools/fit_polynomials.py) */
    static const double fastact_G0 = 0.5000000000000001;
    static const double fastact_G1 = 0.16666666666666669;
    static const double fastact_G2 = 0.041666666666624164;
    static const double fastact_G3 = 0.008333333333330065;
    static const double fastact_G4 = 0.0013888888917196719;
    static const double fastact_G5 = 0.00019841269863040545;
    static const double fastact_G6 = 2.4801521322368692e-05;
    static const double fastact_G7 = 2.7557268480310024e-06;
    static const double fastact_G8 = 2.7620075879983367e-07;
    static const double fastact_G9 = 2.5100375832561234e-08;
    /* tanh(x) = x + x z P(z) / Q(z), z = x^2 <= 0.390625 (|x| <= 0.625), Q(0) = 1
       (tools/fit_polynomials.py) */
    static const double fastact_TANH_SMALL = 0.625;
    static const double fastact_TP0 = -0.3333333333333333;
    static const double fastact_TP1 = -0.020498914637289624;
    static const double fastact_TP2 = -0.0001991831335221819;
    static const double fastact_TQ1 = 0.4614967439118656;
    static const double fastact_TQ2 = 0.023291485060651148;
    static const double fastact_TQ3 = 0.00020653918870941227;
    /* 2 atanh(s) = 2s + s z W(z), z = s^2 <= 0.0295 (tools/fit_polynomials.py) */
    static const double fastact_W0 = 0.666666666666667;
    static const double fastact_W1 = 0.39999999999899505;
    static const double fastact_W2 = 0.28571428625975487;
    static const double fastact_W3 = 0.2222221113479508;
    static const double fastact_W4 = 0.18182889125261723;
    static const double fastact_W5 = 0.15331721600556042;
    static const double fastact_W6 = 0.14616449685043406;
    /* bits of sqrt(1/2): mantissas are folded into [sqrt(1/2), sqrt(2)) */
    static const unsigned long long fastact_SQRT_HALF_BITS = 0x3fe6a09e667f3bcdULL;
    static const unsigned long long fastact_TWO52_BITS = 0x4330000000000000ULL;
    """
    const double _SHIFT "fastact_SHIFT"
    const double _SHIFT_BIAS "fastact_SHIFT_BIAS"
    const double _INV_LN2 "fastact_INV_LN2"
    const double _LN2_HI "fastact_LN2_HI"
    const double _LN2_LO "fastact_LN2_LO"
    const double _EXP_MIN "fastact_EXP_MIN"
    const double _TWO_M128 "fastact_TWO_M128"
    const double _TWO_M130 "fastact_TWO_M130"
    const double _TWO_P126 "fastact_TWO_P126"
    const double _TWO_P128 "fastact_TWO_P128"
    const double _SIG_C0 "fastact_SIG_C0"
    const double _SIG_C1 "fastact_SIG_C1"
    const double _TERM_MIN "fastact_TERM_MIN"
    const double _D_TANH_ARG_MIN "fastact_D_TANH_ARG_MIN"
    const double _G0 "fastact_G0"
    const double _G1 "fastact_G1"
    const double _G2 "fastact_G2"
    const double _G3 "fastact_G3"
    const double _G4 "fastact_G4"
    const double _G5 "fastact_G5"
    const double _G6 "fastact_G6"
    const double _G7 "fastact_G7"
    const double _G8 "fastact_G8"
    const double _G9 "fastact_G9"
    const double _TANH_SMALL "fastact_TANH_SMALL"
    const double _TP0 "fastact_TP0"
    const double _TP1 "fastact_TP1"
    const double _TP2 "fastact_TP2"
    const double _TQ1 "fastact_TQ1"
    const double _TQ2 "fastact_TQ2"
    const double _TQ3 "fastact_TQ3"
    const double _W0 "fastact_W0"
    const double _W1 "fastact_W1"
    const double _W2 "fastact_W2"
    const double _W3 "fastact_W3"
    const double _W4 "fastact_W4"
    const double _W5 "fastact_W5"
    const double _W6 "fastact_W6"
    const unsigned long long _SQRT_HALF_BITS "fastact_SQRT_HALF_BITS"
    const unsigned long long _TWO52_BITS "fastact_TWO52_BITS"


cdef extern from *:
    """
    /* The exp polynomial by Estrin's scheme (half Horner's dependency chain, a few more
       multiplies) on AVX2 without AVX-512, where 4 elements per instruction leave the
       out-of-order window short of Horner's chain: tanh 10 %, tanh' 8 %, softmax 6 %
       faster, sigmoid and sigmoid' within 1 % (tools/ab_kernels.py on Zen 4, against
       Horner, at d257d0e). With AVX-512 (8 per instruction) it
       measured -4 % to +5 % across functions, and on the baseline build (no fma) the
       extra multiplies cost more than they save, so both keep Horner.
       -DFASTACT_ESTRIN=0/1 overrides. */
    #ifndef FASTACT_ESTRIN
    #if defined(__AVX2__) && !defined(__AVX512F__)
    #define FASTACT_ESTRIN 1
    #else
    #define FASTACT_ESTRIN 0
    #endif
    #endif
    """
    const bint _ESTRIN "FASTACT_ESTRIN"


cdef extern from *:
    """
    /* How the exp-based kernels split their loops (_elementwise.pxi, _softmax_lanes.pxi).
       With 4-wide vectors or narrower: three loops per block for every elementwise function
       (_exp_blocks: the reduction; the polynomial and scale; the rest), for the softmax
       family's terms and sums (_add_terms, blocks of 128) and for log_softmax_backward.
       With AVX-512, whose 8-wide instructions already keep twice the elements in
       flight: two for sigmoid and tanh (three measured 0.93-1.01 against two), one for
       the derivatives, whose rest is short (two measured 0.92-1.05 against one, three
       0.92-0.94), two for softmax (blocks of 512), one for log_softmax and
       log_softmax_backward (tools/ab_kernels.py). The elementwise and the softmax
       choices apply when FASTACT_TABLE_EXP is 0: with the table exp AVX-512 tanh takes
       two loops, sigmoid and the derivatives one software-pipelined C loop
       (fastact_pipelined), and the softmax family's slices of 32 entries or more near
       their max one C loop. -DFASTACT_WIDE_VECTORS=0/1 overrides. */
    #ifndef FASTACT_WIDE_VECTORS
    #if defined(__AVX512F__)
    #define FASTACT_WIDE_VECTORS 1
    #else
    #define FASTACT_WIDE_VECTORS 0
    #endif
    #endif
    """
    const bint _WIDE_VECTORS "FASTACT_WIDE_VECTORS"


cdef extern from *:
    """
    /* With AVX2 and not AVX-512, sigmoid' and tanh' run their divisions (the third of
       their three loops) for one block in the same loop as the exp polynomials of the
       next (_exp_blocks): Zen 4's 4-wide divider then works beside the fma units
       instead of after them (same bits; tools/ab_kernels.py 1.06-1.11). sigmoid and
       tanh, whose rests hold more arithmetic, measured 0.80-0.84 that way; the
       baseline build 0.98 (no fma), AVX-512 0.86-0.90 (blocks of 512; in registers, 16
       entries at a time, it gains: fastact_pipelined). -DFASTACT_PIPELINE_DIVISION=0/1
       overrides (on AVX-512 only with -DFASTACT_TABLE_EXP=0 and
       -DFASTACT_WIDE_VECTORS=0: _exp_blocks tests those first). */
    #ifndef FASTACT_PIPELINE_DIVISION
    #if defined(__AVX2__) && !defined(__AVX512F__)
    #define FASTACT_PIPELINE_DIVISION 1
    #else
    #define FASTACT_PIPELINE_DIVISION 0
    #endif
    #endif
    """
    const bint _PIPELINE_DIVISION "FASTACT_PIPELINE_DIVISION"


# ---------------------------------------------------------------- exp


cdef inline double _pow2(double k) noexcept nogil:
    # 2^k for an integral k in [-1022, 1023]: k + 1023 lands in the low mantissa bits of
    # k + _SHIFT_BIAS; shifting left by 52 moves it into the exponent field.
    cdef _Bits b
    b.d = k + _SHIFT_BIAS
    b.u = b.u << 52
    return b.d


cdef inline double _exp_poly(double r, double r_lo, bint accurate) noexcept nogil:
    # e^r for |r| <= ln2/2 (in [0.70, 1.42]), within 1.05 ulp: the roundings of r and of
    # r + r^2 g add up to 0.45 ulp before 1 + (...) rounds. `accurate` (a constant at each
    # call site) takes e^(r + r_lo), r_lo the reduction's rounding error, with 1 + r split
    # exactly (a + a_lo, Fast2Sum) so that only the last add rounds: within 0.73 ulp, for
    # 6 more additions (sigmoid needs it, see f_sigmoid).
    cdef double r2 = r * r
    cdef double a, a_lo
    cdef double r4, g
    if _ESTRIN:
        r4 = r2 * r2
        g = (((_G0 + _G1 * r) + (_G2 + _G3 * r) * r2)
             + ((_G4 + _G5 * r) + (_G6 + _G7 * r) * r2) * r4 + (_G8 + _G9 * r) * (r4 * r4))
    else:
        g = _G9
        g = g * r + _G8
        g = g * r + _G7
        g = g * r + _G6
        g = g * r + _G5
        g = g * r + _G4
        g = g * r + _G3
        g = g * r + _G2
        g = g * r + _G1
        g = g * r + _G0
    if accurate:
        a = 1.0 + r
        a_lo = (1.0 - a) + r
        return a + (r2 * g + (a_lo + r_lo))
    return 1.0 + (r + r2 * g)


cdef inline double _reduce(double x, double k, double* r_lo, bint accurate) noexcept nogil:
    # r = x - k ln2 rounded, with |r| <= ln2/2: k _LN2_HI is exact and so is
    # x - k _LN2_HI (Sterbenz); r rounds once, and *r_lo (when `accurate`, else 0) is its
    # rounding error to within ~2^-85 (the product k _LN2_LO rounds, and t - r too where
    # |t| is below ~6e-10).
    cdef double t = x - k * _LN2_HI
    cdef double r = t - k * _LN2_LO
    r_lo[0] = (t - r) - k * _LN2_LO if accurate else 0.0
    return r


cdef inline double _exp_reduce_bits(double x, unsigned long long* kb, double* r_lo,
                                    bint accurate) noexcept nogil:
    # The first half of _exp_scaled: r (and *r_lo) as _reduce gives them, and the
    # shifter's bits in *kb instead of k: k sits in their low bits (two's complement),
    # where _pow2_bits adds an exponent bias to it as an integer (two floating-point adds
    # fewer than _pow2(k + c)).
    cdef _Bits b
    b.d = x * _INV_LN2 + _SHIFT
    kb[0] = b.u
    return _reduce(x, b.d - _SHIFT, r_lo, accurate)


cdef inline double _pow2_bits(unsigned long long kb, unsigned long long biased) noexcept nogil:
    # 2^(k + c) from _exp_reduce_bits' kb, biased = c + 1023, for k + c in [-1022, 1023]
    # (exp_units passes exp_units_offset(m) instead, which also takes K out: the integer
    # add wraps modulo 2^64, and only the low bits reach the exponent field).
    cdef _Bits b
    b.u = (kb + biased) << 52
    return b.d


cdef inline double _exp_finish(double r, double r_lo, unsigned long long kb,
                               unsigned long long biased, bint accurate) noexcept nogil:
    # The second half of _exp_scaled: e^(r + r_lo) 2^(k + c).
    return _exp_poly(r, r_lo, accurate) * _pow2_bits(kb, biased)


cdef inline double _exp_scaled(double x, unsigned long long biased,
                               bint accurate) noexcept nogil:
    # e^x 2^c = p 2^(k + c), biased as for _pow2_bits (c = 128: 1151; or an
    # exp_units_offset). With c = 128 the result is exact but for p's rounding while
    # 2^(k + 128) is a normal number (x >= -797). Two statements, so that kb is read
    # after it is set (not in the C expression that sets it). A NaN x leaves garbage in
    # kb, but p is NaN and so is the product.
    cdef unsigned long long kb
    cdef double r_lo
    cdef double r = _exp_reduce_bits(x, &kb, &r_lo, accurate)
    return _exp_finish(r, r_lo, kb, biased, accurate)


cdef extern from *:
    """
    /* With AVX-512, the exp-based elementwise kernels take s = e^a 2^128 from a table:
       a = (16k + j) ln2/16 + r with |r| <= ln2/32, e^a = 2^k 2^(j/16) e^r, and
       e^r = 1 + r + r^2 H(r) of degree 7, 5 multiply-adds for the Cody-Waite polynomial's 9
       (fastact_H0..H5 below; tools/fit_polynomials.py). The 16 entries of 2^(j/16) sit
       in two zmm registers, their tails in two more, so each lookup is one two-source
       permute (vpermt2pd) on the shifter's low bits, two per 8 elements: GCC's
       vectorizer cannot express it (it emulated a gather with scalar loads, 0.68 ns per
       exp against the polynomial's 0.60 and the permute's 0.44 in a micro-benchmark),
       hence intrinsics here. The result is T_j (1 + p), p = r + r^2 H(r) + tail_j,
       tail_j the rounding error of T_j relative to T_j: within 0.54 ulp (measured on
       4e6 arguments against long double expl: the last fma's half ulp and a little), so
       every function takes it (sigmoid needs it, see f_sigmoid; without the tail, tanh'
       and sigmoid' reached 2.9 and 3.0 ulp instead of 2.4, for 4-9 % more speed, and
       softmax 3.6 ulp instead of 2.9 in a random search of rows, for 3-4 %). No r_lo is
       needed: with |r| <= ln2/32 the rounding of r is at most 2^-59. Subnormals cannot
       occur: the arguments (-c|x| clamped at lo <= -746 and >= -760, the _arg helpers)
       keep 2^(k + 128) normal. Elsewhere the macro is 0 and the kernels keep
       _exp_scaled. The softmax family's slices of 32 entries or more near their max
       take the table too, fused with their lane sums (fastact_units_lane_sums and
       fastact_units_lane_sums8, _softmax_lanes.pxi), as do the column kernels' columns
       of 32 entries or more (fastact_cols_terms); a table
       pass beside _add_terms' Cython loops measured 0.84-0.94. -DFASTACT_TABLE_EXP=0
       overrides. */
    #ifndef FASTACT_TABLE_EXP
    #if defined(__AVX512F__)
    #define FASTACT_TABLE_EXP 1
    #else
    #define FASTACT_TABLE_EXP 0
    #endif
    #endif
    #if FASTACT_TABLE_EXP
    #include <immintrin.h>
    /* 2^(j/16) rounded to double, and (2^(j/16) - that) / that */
    static const double fastact_EXP2_16THS[16] = {
        1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916,
        1.189207115002721, 1.241857812073484, 1.2968395546510096, 1.3542555469368927,
        1.4142135623730951, 1.4768261459394993, 1.5422108254079407, 1.6104903319492543,
        1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474};
    static const double fastact_EXP2_16THS_TAIL[16] = {
        0.0, 8.189317638195515e-17, -2.7939114859515733e-17, 7.826573258636076e-17,
        3.3484623336251524e-17, 3.750854201303127e-17, 1.9572585293112036e-17,
        5.68648095791174e-17, -6.835808657661922e-17, -2.3591094770850053e-17,
        5.1548301170786783e-17, 1.5341410053603723e-17, 4.875160526227062e-17,
        1.685487290628973e-17, 1.790126907604513e-17, -5.545065618639427e-17};
    static const double fastact_H0 = 0.5000000000000001, fastact_H1 = 0.16666666666666669,
        fastact_H2 = 0.041666666663595475, fastact_H3 = 0.00833333333299209,
        fastact_H4 = 0.0013889063440655327, fastact_H5 = 0.0001984146378747018;

    static inline void fastact_exp_table_load(__m512d* table, unsigned long long c) {
        /* The two tables above into four registers, 8 entries each (assigned one by
           one: MSVC's C has no non-constant aggregate initializers). The first two hold
           T_j's bits less j 2^48, plus c 2^52 (modulo 2^64): fastact_exp_table8 adds
           the shifter's bits (16k + j) 2^48 to them, which leaves T_j 2^(k + c). */
        const __m512i cs = _mm512_set1_epi64((long long)(c << 52));
        const __m512i j48 = _mm512_slli_epi64(
            _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), 48);
        const __m512i eight48 = _mm512_set1_epi64(8LL << 48);
        table[0] = _mm512_castsi512_pd(_mm512_add_epi64(_mm512_sub_epi64(
            _mm512_castpd_si512(_mm512_loadu_pd(fastact_EXP2_16THS)), j48), cs));
        table[1] = _mm512_castsi512_pd(_mm512_add_epi64(_mm512_sub_epi64(
            _mm512_castpd_si512(_mm512_loadu_pd(fastact_EXP2_16THS + 8)),
            _mm512_add_epi64(j48, eight48)), cs));
        table[2] = _mm512_loadu_pd(fastact_EXP2_16THS_TAIL);
        table[3] = _mm512_loadu_pd(fastact_EXP2_16THS_TAIL + 8);
    }

    static inline __m512d fastact_exp_table8(__m512d a, const __m512d* table,
                                             __m512i scale) {
        /* e^a 2^(c + d) for 8 arguments a (or NaN), where the result is a normal number
           (and 16|a|/ln2 < 2^51, the shifter's range); table from fastact_exp_table_load
           with c, scale = d 2^52 in each lane (modulo 2^64; zero where c holds it all).
           c + d = 128 for the activations; exp_units' offset less the bias 1023 for the
           softmax family's terms (T_j carries the bias). */
        const __m512d shift = _mm512_set1_pd(fastact_SHIFT);
        __m512d b = _mm512_fmadd_pd(a, _mm512_set1_pd(16 * fastact_INV_LN2), shift);
        __m512i bits = _mm512_castpd_si512(b);      /* 16k + j in the low bits */
        __m512d kj = _mm512_sub_pd(b, shift);
        /* kj ln2/16 = kj (HI + LO) / 16: a - kj HI / 16 is exact (an fma), r rounds once */
        __m512d r = _mm512_fnmadd_pd(kj, _mm512_set1_pd(fastact_LN2_HI / 16), a);
        r = _mm512_fnmadd_pd(kj, _mm512_set1_pd(fastact_LN2_LO / 16), r);
        __m512d h = _mm512_fmadd_pd(_mm512_set1_pd(fastact_H5), r, _mm512_set1_pd(fastact_H4));
        h = _mm512_fmadd_pd(h, r, _mm512_set1_pd(fastact_H3));
        h = _mm512_fmadd_pd(h, r, _mm512_set1_pd(fastact_H2));
        h = _mm512_fmadd_pd(h, r, _mm512_set1_pd(fastact_H1));
        h = _mm512_fmadd_pd(h, r, _mm512_set1_pd(fastact_H0));
        __m512d r2 = _mm512_mul_pd(r, r);
        /* vpermt2pd reads the low 4 bits: j */
        __m512d p = _mm512_add_pd(r, _mm512_fmadd_pd(
            r2, h, _mm512_permutex2var_pd(table[2], bits, table[3])));
        /* bits 2^48 = k 2^52 + j 2^48 modulo 2^64 (the shifter's own bits shift out),
           onto the table's T_j - j 2^48 + c 2^52: T_j 2^(k + c), in two's complement */
        __m512d t = _mm512_castsi512_pd(_mm512_add_epi64(_mm512_add_epi64(
            _mm512_castpd_si512(_mm512_permutex2var_pd(table[0], bits, table[1])),
            _mm512_slli_epi64(bits, 48)), scale));
        return _mm512_fmadd_pd(t, p, t);
    }

    static inline __m512d fastact_neg_abs(__m512d x, double c, __m512d nc) {
        /* -c|x|: for c = 1 and 2 (constants wherever the kernels call it) an or of the
           sign bit, and an add, rather than a multiply on the fma units; exact either
           way */
        __m512d a = _mm512_or_pd(x, _mm512_set1_pd(-0.0));
        if (c == 1.0)
            return a;
        if (c == 2.0)
            return _mm512_add_pd(a, a);
        return _mm512_mul_pd(nc, _mm512_abs_pd(x));
    }

    static inline __m512d fastact_neg_exp8(__m512d x, double c, __m512d nc, __m512d vlo,
                                           const __m512d* table) {
        /* e^a 2^128 with a = -c |x| clamped below at lo (NaN passes: max_pd returns its
           second operand where either is NaN): the argument of the activation's _arg
           helper; table from fastact_exp_table_load with c = 128 */
        return fastact_exp_table8(_mm512_max_pd(vlo, fastact_neg_abs(x, c, nc)), table,
                                  _mm512_setzero_si512());
    }

    static inline void fastact_exp_neg_block(const double* x, double* s, Py_ssize_t n,
                                             double c, double lo) {
        /* s[j] = fastact_neg_exp8 of x[j] (_elementwise.pxi passes c, lo) */
        __m512d table[4];
        const __m512d nc = _mm512_set1_pd(-c), vlo = _mm512_set1_pd(lo);
        Py_ssize_t j = 0;
        __mmask8 m;
        fastact_exp_table_load(table, 128);
        for (; j + 8 <= n; j += 8)
            _mm512_storeu_pd(s + j, fastact_neg_exp8(_mm512_loadu_pd(x + j), c, nc, vlo,
                                                     table));
        if (j < n) {        /* the last n - j < 8 */
            m = (__mmask8)((1u << (n - j)) - 1);
            _mm512_mask_storeu_pd(s + j, m, fastact_neg_exp8(_mm512_maskz_loadu_pd(m, x + j),
                                                             c, nc, vlo, table));
        }
    }
    #if defined(_MSC_VER)
    #define FASTACT_ALWAYS_INLINE static __forceinline
    #else
    #define FASTACT_ALWAYS_INLINE static inline __attribute__((always_inline))
    #endif
    /* The activations that fastact_pipelined computes, its `kind` (a constant at
       every call, so each inlined copy keeps one) */
    #define FASTACT_SIGMOID 0
    #define FASTACT_SIGMOID_DERIVATIVE 1
    #define FASTACT_TANH_DERIVATIVE 2

    FASTACT_ALWAYS_INLINE __m512d fastact_finish8(int kind, __m512d x, __m512d s) {
        /* f_sigmoid, d_sigmoid or d_tanh on 8 lanes, operation for operation (the same
           bits) */
        if (kind == FASTACT_SIGMOID) {
            const __m512d two128 = _mm512_set1_pd(fastact_TWO_P128);
            __mmask8 neg = _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_LT_OQ);
            __m512d num = _mm512_mask_blend_pd(neg, two128, s);
            __m512d q = _mm512_div_pd(num, _mm512_add_pd(two128, s));
            __m512d r = _mm512_fnmadd_pd(q, s, _mm512_fnmadd_pd(q, two128, num));
            __m512d w = _mm512_fnmadd_pd(_mm512_set1_pd(fastact_SIG_C1), s,
                                         _mm512_set1_pd(fastact_SIG_C0));
            return _mm512_fmadd_pd(r, w, q);
        }
        /* s / ((s A + B) s + C), at most M */
        const int sig = kind == FASTACT_SIGMOID_DERIVATIVE;
        const __m512d hi = _mm512_set1_pd(sig ? 0.25 : 1.0);
        __m512d d = _mm512_fmadd_pd(
            _mm512_fmadd_pd(s, _mm512_set1_pd(sig ? fastact_TWO_M128 : fastact_TWO_M130),
                            _mm512_set1_pd(sig ? 2.0 : 0.5)),
            s, _mm512_set1_pd(sig ? fastact_TWO_P128 : fastact_TWO_P126));
        __m512d r = _mm512_div_pd(s, d);
        return _mm512_mask_mov_pd(r, _mm512_cmp_pd_mask(r, hi, _CMP_GT_OQ), hi);
    }

    FASTACT_ALWAYS_INLINE __m512d fastact_arg_exp8(int kind, __m512d x,
                                                   const __m512d* table) {
        /* s: e^-|x| 2^128 clamped at _EXP_MIN, for tanh' e^-2|x| 2^128 at
           _D_TANH_ARG_MIN (the _arg helpers, as _exp_blocks' _arg_scale and _arg_min) */
        const int tanh = kind == FASTACT_TANH_DERIVATIVE;
        return fastact_neg_exp8(x, tanh ? 2.0 : 1.0, _mm512_set1_pd(tanh ? -2.0 : -1.0),
                                _mm512_set1_pd(tanh ? fastact_D_TANH_ARG_MIN
                                               : fastact_EXP_MIN), table);
    }

    FASTACT_ALWAYS_INLINE void fastact_pipelined(int kind, const double* x, double* out,
                                                 Py_ssize_t n) {
        /* An activation in one loop, software-pipelined: each pass takes the exps of
           the next 16 entries and divides for the 16 before them, whose exps the
           previous pass left in registers. The divider then runs beside the exp's
           multiply-adds (alone, each takes 35-60 % of sigmoid's time): ab_kernels
           against the two loops over blocks (_exp_blocks), sigmoid 1.08-1.22; one loop
           without the pipelining 1.03, pipelined 8 at a time 1.05, 24 and 32 at a time
           1.06-1.12. The same in Cython loops over blocks of 16-256 entries measured
           0.78-1.09. tanh, with more arithmetic around its division, gained only 1.03.
           out may be x: a pass reads x ahead of the entries it writes. */
        __m512d table[4];
        __m512d xa, xb, ea, eb, xc, xd;
        Py_ssize_t j = 0;
        __mmask8 m;
        fastact_exp_table_load(table, 128);
        if (n >= 16) {
            xa = _mm512_loadu_pd(x);
            xb = _mm512_loadu_pd(x + 8);
            ea = fastact_arg_exp8(kind, xa, table);
            eb = fastact_arg_exp8(kind, xb, table);
            for (; j + 32 <= n; j += 16) {
                xc = _mm512_loadu_pd(x + j + 16);
                xd = _mm512_loadu_pd(x + j + 24);
                __m512d ec = fastact_arg_exp8(kind, xc, table);
                __m512d ed = fastact_arg_exp8(kind, xd, table);
                _mm512_storeu_pd(out + j, fastact_finish8(kind, xa, ea));
                _mm512_storeu_pd(out + j + 8, fastact_finish8(kind, xb, eb));
                xa = xc; ea = ec;
                xb = xd; eb = ed;
            }
            _mm512_storeu_pd(out + j, fastact_finish8(kind, xa, ea));
            _mm512_storeu_pd(out + j + 8, fastact_finish8(kind, xb, eb));
            j += 16;
        }
        for (; j < n; j += 8) {     /* the last n - j < 16, masked where under 8 */
            m = n - j >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n - j)) - 1);
            xa = _mm512_maskz_loadu_pd(m, x + j);
            ea = fastact_arg_exp8(kind, xa, table);
            _mm512_mask_storeu_pd(out + j, m, fastact_finish8(kind, xa, ea));
        }
    }

    static inline void fastact_sigmoid_table(const double* x, double* out, Py_ssize_t n) {
        fastact_pipelined(FASTACT_SIGMOID, x, out, n);
    }

    static inline void fastact_sigmoid_derivative_table(const double* x, double* out,
                                                        Py_ssize_t n) {
        fastact_pipelined(FASTACT_SIGMOID_DERIVATIVE, x, out, n);
    }

    static inline void fastact_tanh_derivative_table(const double* x, double* out,
                                                     Py_ssize_t n) {
        fastact_pipelined(FASTACT_TANH_DERIVATIVE, x, out, n);
    }
    #else
    /* Not called: the kernels test FASTACT_TABLE_EXP first. */
    #define fastact_sigmoid_table(x, out, n) ((void)0)
    #define fastact_sigmoid_derivative_table(x, out, n) ((void)0)
    #define fastact_tanh_derivative_table(x, out, n) ((void)0)
    #define fastact_exp_neg_block(x, s, n, c, lo) ((void)0)
    #endif
    """
    const bint _TABLE_EXP "FASTACT_TABLE_EXP"
    void exp_neg_block "fastact_exp_neg_block"(const double* x, double* s, Py_ssize_t n,
                                               double c, double lo) noexcept nogil
    void sigmoid_table "fastact_sigmoid_table"(const double* x, double* out,
                                               Py_ssize_t n) noexcept nogil
    void sigmoid_derivative_table "fastact_sigmoid_derivative_table"(
        const double* x, double* out, Py_ssize_t n) noexcept nogil
    void tanh_derivative_table "fastact_tanh_derivative_table"(
        const double* x, double* out, Py_ssize_t n) noexcept nogil


cdef inline double _scale(double p, double k) noexcept nogil:
    # p * 2^k in two steps (each factor a normal power of two), so a subnormal result is
    # rounded once, at the last multiplication.
    cdef double k1 = (k * 0.5 + _SHIFT) - _SHIFT
    return (p * _pow2(k1)) * _pow2(k - k1)


cdef inline double _neg_arg(double x) noexcept nogil:
    # The exp argument x <= 0 (or NaN) of an activation, clamped at _EXP_MIN, where
    # e^x 2^128 (_exp_scaled with c = 128) is a normal number for every x: the
    # activations divide it by sums scaled the same way, so that a subnormal result
    # rounds once, at the division.
    return _EXP_MIN if x < _EXP_MIN else x


cdef inline double vexp_reduce(double x, double* kd) noexcept nogil:
    # The first half of vexp: x clamped, then r = x - k ln2 (returned) and k (*kd).
    cdef double r_lo
    x = _EXP_MIN if x < _EXP_MIN else x
    x = 710.0 if x > 710.0 else x
    kd[0] = (x * _INV_LN2 + _SHIFT) - _SHIFT
    return _reduce(x, kd[0], &r_lo, False)


cdef inline double vexp_finish(double r, double k) noexcept nogil:
    # The second half of vexp: e^r 2^k.
    return _scale(_exp_poly(r, 0.0, False), k)


cdef inline double vexp(double x) noexcept nogil:
    # e^x, within 1.05 ulp, subnormal results included; 0 below -745.14, inf above
    # 709.78 (the clamps keep k in range; NaN passes through them).
    cdef double k
    cdef double r = vexp_reduce(x, &k)
    return vexp_finish(r, k)


# ---------------------------------------------------------------- activations


cdef inline double f_sigmoid_arg(double x) noexcept nogil:
    # f_sigmoid's s = e^-|x| 2^128, from the accurate exp (see f_sigmoid).
    return _neg_arg(-fabs(x))


cdef inline double f_sigmoid(double x, double s) noexcept nogil:
    # With t = e^-|x| = s 2^-128 (never overflows): sigma(x) = t / (1 + t) for x < 0,
    # 1 / (1 + t) beyond, computed as s / (2^128 + s) and 2^128 / (2^128 + s). Both
    # sides carry the same exact power of two, so this is the same value t / (1 + t)
    # would give, one multiplication (s 2^-128) fewer. Where t sits just above a power of
    # two and sigma just below it (x just above -k ln2), t's error counts twice in ulps
    # of the result, so t comes from the accurate exp (0.73 ulp, not 1.05; the table
    # exp's 0.54) and nothing else may round by much more than half an ulp: the
    # quotient q = fl(num / d), d = fl(2^128 + s), is corrected by the residual
    # num - q (2^128 + s) (sig_residual: exact but for its last rounding, far below q's
    # ulp) times 1 / d, which needs only a few correct bits: (16 - 8t) / 17 is
    # 1 / (1 + t) within 6 %, formed while the division runs, on a correction under
    # 1.5 ulp. The result is within 0.53 ulp of num / (2^128 + s) (a subnormal one,
    # x in [-745, -709], too), plus t's error. Correcting q by d's rounding alone, after
    # q had rounded, left two roundings: 2.01 ulp at x = -9.01091091417608 on every
    # variant (t 0.5 ulp off, as correctly rounded).
    cdef double num = s if x < 0.0 else _TWO_P128
    cdef double q = num / (_TWO_P128 + s)
    return q + sig_residual(num, q, s) * (_SIG_C0 - _SIG_C1 * s)


cdef inline double f_tanh_arg(double x) noexcept nogil:
    # f_tanh's s = e^-2|x| 2^128.
    return _neg_arg(-2.0 * fabs(x))


cdef inline double f_tanh(double x, double s) noexcept nogil:
    # |x| <= 0.625: x + x f with f = z P(z) / Q(z), z = x^2 (|f| <= 0.113, so f's
    # rounding errors reach the result scaled by 0.113; full relative accuracy near 0).
    # Beyond: (1 - t) / (1 + t) with t = e^-2|x| <= 0.29, so 1 - t does not cancel,
    # computed as (2^128 - s) / (2^128 + s) from s = t 2^128 (the same value, one
    # multiplication fewer; t is far above the subnormals wherever 1 +- t != 1).
    # Both ranges share one division: every select comes before it, and r = f c + b
    # (c = b = |x| near 0; c = 1, b = 0 beyond) leaves no branch after it that GCC could
    # thread back, which would split the division in two.
    cdef double a = fabs(x)
    cdef double z = a * a
    cdef bint small = a <= _TANH_SMALL
    cdef double num = z * ((_TP2 * z + _TP1) * z + _TP0) if small else _TWO_P128 - s
    cdef double den = ((_TQ3 * z + _TQ2) * z + _TQ1) * z + 1.0 if small else _TWO_P128 + s
    cdef double c = a if small else 1.0
    cdef double b = a if small else 0.0
    return copysign((num / den) * c + b, x)


cdef inline double f_relu(double x) noexcept nogil:
    # NaN propagates: both quiet comparisons are false for NaN.
    return 0.0 if islessequal(x, 0.0) else x


cdef inline double f_leaky_relu(double x, double alpha) noexcept nogil:
    return alpha * x if islessequal(x, 0.0) else x


cdef inline double d_sigmoid_arg(double x) noexcept nogil:
    # d_sigmoid's s = e^-|x| 2^128.
    return _neg_arg(-fabs(x))


cdef inline double d_sigmoid(double x, double s) noexcept nogil:
    # sigma'(x) = t / (1 + t)^2 with t = e^-|x|: no 1 - sigma cancellation, so the
    # tail (sigma'(40) = 4.2e-18) keeps full relative accuracy. (1 + t)^2 as (t + 2) t + 1,
    # an fma: rounding 1 + t and squaring it cost up to 2.5 u relative (4.1 ulp in all),
    # this at most 1 u, with no more operations on the way to the division. From
    # s = t 2^128: s / ((s 2^-128 + 2) s + 2^128), the same roundings scaled by exact
    # powers of two, so a subnormal result (|x| > 708.4) is rounded once, by the division.
    cdef double r = s / ((s * _TWO_M128 + 2.0) * s + _TWO_P128)
    return 0.25 if isgreater(r, 0.25) else r    # rounding may cross the maximum 1/4


cdef inline double d_tanh_arg(double x) noexcept nogil:
    # d_tanh's s = e^-2|x| 2^128: exact but for p's rounding (2^(k + 128) is normal for
    # k >= -1096, where 2^(k + 64) was not: tanh' gave NaN for |x| in [376.9, 377.9]).
    cdef double a = -2.0 * fabs(x)
    return _D_TANH_ARG_MIN if a < _D_TANH_ARG_MIN else a


cdef inline double d_tanh(double x, double s) noexcept nogil:
    # tanh'(x) = sech^2(x) = 4t / (1 + t)^2 with t = e^-2|x| = s 2^-128, as d_sigmoid
    # computes t / (1 + t)^2 with every factor scaled by a power of two: 4t / D =
    # s / ((s 2^-130 + 1/2) s + 2^126). Subnormal results (|x| > 354.9) round once.
    cdef double r = s / ((s * _TWO_M130 + 0.5) * s + _TWO_P126)
    return 1.0 if isgreater(r, 1.0) else r      # rounding may cross the maximum 1


cdef inline double d_relu(double x) noexcept nogil:
    # relu'(0) = 0 (PyTorch's convention); NaN propagates.
    if islessequal(x, 0.0):
        return 0.0
    return 1.0 if isgreater(x, 0.0) else x


cdef inline double d_leaky_relu(double x, double alpha) noexcept nogil:
    # leaky_relu'(0) = alpha (PyTorch's convention); NaN propagates.
    if islessequal(x, 0.0):
        return alpha
    return 1.0 if isgreater(x, 0.0) else x


# Backward products. Where the local derivative is exactly 0 the result is 0, so an
# infinite upstream gradient gives 0 rather than inf * 0 = NaN (and no invalid flag).

cdef inline double b_sigmoid(double g, double y) noexcept nogil:
    cdef double d = y * (1.0 - y)
    return 0.0 if d == 0.0 else g * d


cdef inline double b_tanh(double g, double y) noexcept nogil:
    # (1 - y)(1 + y) rather than 1 - y^2: exact factors near |y| = 1.
    cdef double d = (1.0 - y) * (1.0 + y)
    return 0.0 if d == 0.0 else g * d


cdef inline double b_relu(double g, double y) noexcept nogil:
    if islessequal(y, 0.0):
        return 0.0
    return g if isgreater(y, 0.0) else y


cdef inline double b_leaky_relu(double g, double y, double alpha) noexcept nogil:
    # y = alpha * x has the sign of x for alpha > 0, so y <= 0 selects the leaky branch.
    if islessequal(y, 0.0):
        return 0.0 if alpha == 0.0 else g * alpha
    return g if isgreater(y, 0.0) else y


# Error-free transformations for the softmax family.

cdef extern from *:
    """
    #include <math.h>
    /* a * b - p exactly, for p = fl(a * b): one fma where the hardware has it, else
       Dekker's splitting (a libm fma without hardware support is a slow software call). */
    static inline double fastact_two_prod_err(double a, double b, double p) {
    #if defined(__FMA__) || defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
        return fma(a, b, -p);
    #else
        const double split = 134217729.0;   /* 2^27 + 1 */
        /* Dekker's split overflows for |a| or |b| above 2^996 (softmax_backward of a
           gradient of 2e300 gave NaN on this variant only): such a factor is scaled by
           2^-28 first, exactly, and the error scaled back. */
        const double big = 3.3484643974570854e+299;    /* 2^995 */
        const double down = 3.725290298461914e-09, up = 268435456.0;   /* 2^-28, 2^28 */
        double sa = fabs(a) > big ? down : 1.0, sb = fabs(b) > big ? down : 1.0;
        double ua = fabs(a) > big ? up : 1.0, ub = fabs(b) > big ? up : 1.0;
        double as = a * sa, bs = b * sb, ps = (p * sa) * sb;
        double ca = split * as, cb = split * bs;
        double ah = ca - (ca - as), al = as - ah;
        double bh = cb - (cb - bs), bl = bs - bh;
        return ((((ah * bh - ps) + ah * bl + al * bh) + al * bl) * ua) * ub;
    #endif
    }
    """
    double two_prod_err "fastact_two_prod_err"(double a, double b, double p) nogil


cdef extern from *:
    """
    /* v / d given r = 1 / d (rounded): with an fma, the product v * r corrected by its
       exact residual v - q d, which is v / d correctly rounded (Markstein; a subnormal
       quotient may be one subnormal ulp off) at three fmas against a division's much
       lower throughput; without an fma, the division itself. */
    static inline double fastact_div_by(double v, double d, double r) {
    #if defined(__FMA__) || defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
        double q = v * r;
        return fma(fma(-q, d, v), r, q);
    #else
        (void)r;
        return v / d;
    #endif
    }
    """
    double div_by "fastact_div_by"(double v, double d, double r) nogil


cdef extern from *:
    """
    /* f_sigmoid's residual num - q (2^128 + s), for q = fl(num / fl(2^128 + s)), num = s
       or 2^128, rounded once: num - q 2^128 is exact (q 2^128 is, and it lies within a
       factor 2 of num: Sterbenz), then q s comes off in one fma, or without one as
       Dekker's exact product error (no overflow guard: q is at most 1 and s at most
       2^128), where (num - q 2^128) - fl(q s) is exact again. Dekker's steps must not
       be contracted into fmas (wrong in a quarter of cases under -ffp-contract=fast):
       GCC and Clang define __FMA__ wherever they could contract; MSVC contracts only
       under /fp:fast or /fp:contract, and defines no __FMA__. */
    static inline double fastact_sig_residual(double num, double q, double s) {
        double r = num - q * fastact_TWO_P128;
    #if defined(__FMA__) || defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
        return fma(-q, s, r);
    #else
        const double split = 134217729.0;   /* 2^27 + 1 */
        double p = q * s;
        double cq = split * q, cs = split * s;
        double qh = cq - (cq - q), ql = q - qh;
        double sh = cs - (cs - s), sl = s - sh;
        return (r - p) - ((((qh * sh - p) + qh * sl) + ql * sh) + ql * sl);
    #endif
    }
    """
    double sig_residual "fastact_sig_residual"(double num, double q, double s) nogil

cdef inline double two_sum_err(double a, double b, double s) noexcept nogil:
    # Knuth's TwoSum: s = fl(a + b) and the exact rounding error a + b - s.
    cdef double bb = s - a
    return (a - (s - bb)) + (b - bb)


cdef inline unsigned long long exp_units_offset(double m) noexcept nogil:
    # The offset exp_units adds to its shifter bits: K = round(m / ln2) sits in the low bits
    # of m / ln2 + _SHIFT exactly as each k does there, so bits + (1151 - bits_m) leaves
    # k - K + 1023 + 128 in the low 12 bits, the biased exponent of 2^(k - K + 128).
    cdef _Bits b
    b.d = m * _INV_LN2 + _SHIFT
    return 1151ULL - b.u


cdef inline double exp_units(double x, unsigned long long offset) noexcept nogil:
    # e^x * 2^(128 - K), K = round(m / ln2), offset = exp_units_offset(m), for
    # m + _TERM_MIN <= x <= m and |m| <= 2000 (k - K stays in [-1141, 0], so the result is
    # a normal number and exact but for p's rounding, and k * _LN2_HI is exact). Reduced
    # from x itself: unlike exp(x - m), no rounded subtraction needs correcting, and the
    # 2^(k-K) scale is an integer add. The 2^128 keeps terms far below the max out of
    # the subnormal range, where rounding each of them cost a log_softmax whose other
    # terms sum to a subnormal T up to 2e4 ulp; the softmax family only uses ratios of
    # terms (a term over their sum, the sum over the max's term).
    return _exp_scaled(x, offset, False)


cdef inline double exp_shifted(double x, double m) noexcept nogil:
    # e^(x - m) * 2^128 for x <= m (0 below x - m = _TERM_MIN), as exp_units scales it,
    # with the rounding error of the subtraction carried along: x - m = d + e exactly,
    # and exp(d + e) = exp(d) (1 + e) to first order.
    cdef double d = x - m
    cdef double e = two_sum_err(x, -m, d)
    cdef double v = _exp_scaled(_TERM_MIN if d < _TERM_MIN else d, 1151, False)
    return 0.0 if d < _TERM_MIN else v + v * e      # d = -inf: e is NaN, v is not 0


cdef inline double exp_units_reduce(double x, double lo,
                                    unsigned long long* kb) noexcept nogil:
    # The first half of exp_units_term: x clamped at lo, reduced (r returned, *kb set).
    cdef double r_lo
    return _exp_reduce_bits(lo if x < lo else x, kb, &r_lo, False)


cdef inline double exp_units_finish(double x, double lo, double r, unsigned long long kb,
                                    unsigned long long offset) noexcept nogil:
    # The second half of exp_units_term: the term from r and kb, 0 below lo.
    return 0.0 if x < lo else _exp_finish(r, 0.0, kb, offset, False)


cdef inline double exp_units_term(double x, double lo,
                                  unsigned long long offset) noexcept nogil:
    # exp_units(x) for a term of the softmax family, lo = m + _TERM_MIN: 0 below lo
    # (-inf included), where exp_units' range ends. Two statements, as in _exp_scaled.
    cdef unsigned long long kb
    cdef double r = exp_units_reduce(x, lo, &kb)
    return exp_units_finish(x, lo, r, kb, offset)


# ---------------------------------------------------------------- log1p


cdef inline double vlog1p(double t) noexcept nogil:
    # log(1 + t) for t >= 0 (or NaN; within 0.9 ulp), branchless, for the softmax normaliser over many
    # columns at once (libm's log1p would keep that loop scalar). 1 + t = u + c exactly;
    # u = 2^k z with z in [sqrt(1/2), sqrt(2)) from integer bits; log z = 2 atanh(s),
    # s = f / (2 + f), f = z - 1, arranged as f - (f^2/2 - s (f^2/2 + R)) so that the
    # rounding errors stay far below f; log(1 + t) = k ln2 + log z + c / u.
    cdef _Bits b, kb
    cdef double u = 1.0 + t
    cdef double c = two_sum_err(1.0, t, u)
    cdef unsigned long long top
    b.d = u
    top = (b.u - _SQRT_HALF_BITS) >> 52          # k (u >= 1, so no sign to carry)
    b.u = b.u - (top << 52)
    kb.u = top + _TWO52_BITS
    cdef double k = kb.d - 4503599627370496.0    # k as a double: 2^52 + k - 2^52
    cdef double f = b.d - 1.0
    cdef double hfsq = 0.5 * f * f
    cdef double s = f / (2.0 + f)
    cdef double z = s * s
    cdef double z2 = z * z
    cdef double w = ((_W0 + _W1 * z) + (_W2 + _W3 * z) * z2
                     + ((_W4 + _W5 * z) + _W6 * z2) * (z2 * z2))
    cdef double r = k * _LN2_HI - ((hfsq - (s * (hfsq + z * w) + (k * _LN2_LO + c / u))) - f)
    return t if not (t <= 1.7976931348623157e308) else r      # NaN, +inf
