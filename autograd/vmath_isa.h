/* One instruction set's vector path for vmath.c, which includes this file
 * once per set after defining ISA, ISA_TARGET, LANES, vreal and the V*
 * operations; they are undefined again at the end. Not a public header. */
#define VM_CAT_(a, b) a##_##b
#define VM_CAT(a, b) VM_CAT_(a, b)

__attribute__((target(ISA_TARGET))) static inline vreal VM_CAT(apply, ISA)(vfunc f, vreal x)
{
    switch (f) {
    case F_TANH:
        return VTANH(x);
    case F_EXP:
        return VEXP(x);
    case F_SIGMOID: {
        /* e = exp(-|x|) never overflows; s = 1 / (1 + e) is sigmoid(|x|) */
        vreal e = VEXP(VNEG(VABS(x)));
        vreal s = VDIV(VSET1(1), VADD(VSET1(1), e));
        return VBLEND_NEG(VMUL(e, s), s, x);
    }
    }
    return x;
}

/* n elements from x to y; a ragged tail goes through a padded lane buffer,
 * never through the scalar functions, so every element of an array is
 * computed the same way whichever block it falls in */
__attribute__((target(ISA_TARGET))) static void VM_CAT(block, ISA)(vfunc f, int64_t n,
                                                                   const wg_real *x, wg_real *y)
{
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        VSTORE(y + i, VM_CAT(apply, ISA)(f, VLOAD(x + i)));
    if (i < n) {
        wg_real in[LANES] = { 0 }, out[LANES];
        memcpy(in, x + i, (size_t)(n - i) * sizeof *in);
        VSTORE(out, VM_CAT(apply, ISA)(f, VLOAD(in)));
        memcpy(y + i, out, (size_t)(n - i) * sizeof *out);
    }
}

#undef ISA
#undef ISA_TARGET
#undef LANES
#undef vreal
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VADD
#undef VDIV
#undef VMUL
#undef VABS
#undef VNEG
#undef VBLEND_NEG
#undef VTANH
#undef VEXP
