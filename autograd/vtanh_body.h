/* The body of the vector tanh, included by vtanh.h once per instruction
 * set after defining VT_NAME, VT_TARGET, the vector type vt and the T_*
 * operations; they are undefined again at the end. Not a public header.
 *
 * With a = |x| and the sign put back by xor at the end (so tanh(-0) = -0
 * and the function is exactly odd):
 *
 * a < 9/16: tanh(a) = a + a^3 P(a^2), evaluated as fma(a^3, P, a). The
 *   correction a^3 P is at most a^2/3 < 0.11 of the result, so the few
 *   roundings inside it (and the fit's 0.023u, u = 2^-24) shrink by that
 *   factor: the result is within the final rounding's 0.5 ulp plus at
 *   most about 0.25 ulp, the most at the top of the range, where tanh is
 *   just below 1/2 and its ulp is u/2. A polynomial of the same length
 *   reaching further would need more terms: tanh has poles at +-i pi/2.
 *   Subnormal a: a^3 underflows and the result is a, which is tanh(a)
 *   correctly rounded.
 *
 * a >= 9/16: tanh(a) = 1 - r with r = 2 / (e^{2a} + 1). Here tanh >= 1/2,
 *   so an ulp of the result is u, and r <= 0.49: an error of r counts in
 *   ulps of the result at most half as much as in relative terms. That is
 *   why the switchover sits just above atanh(1/2) = 0.5493: below it the
 *   ulp of the result halves and the subtraction starts to cancel. A
 *   relative error d in e^{2a} moves r by r d e^{2a}/(e^{2a}+1) <= 0.37 d,
 *   so the pieces are carried as float pairs wherever a plain rounding
 *   would cost more than that:
 *   - 2a = k ln2 + s, k an integer and |s| <= ln2/2; k ln2_hi is
 *     subtracted exactly by an fma (k ln2_hi and 2a >= 1.125 are multiples
 *     of 2^-24 and the difference is below 1/2), ln2_lo then costs one
 *     rounding of s (<= 2^-26 = u/4 absolute, so d <= u/4);
 *   - e^{2a} = 2^k (1 + p), p = expm1(s) = s + s^2 Q(s), |p| <= 0.42: the
 *     rounding of p (<= u/4), the fit (0.05u) and the roundings inside
 *     s^2 Q (about 0.14u) add d <= 0.45u;
 *   - D = e^{2a} + 1 = (2^k + 1) + 2^k p as dh + dl: dh by one fma, dl
 *     its rounding error by a second fma ((2^k+1) - dh is exact by
 *     Sterbenz, as dh is within a factor 1.42 of 2^k + 1);
 *   - r = 2 / D as r0 + rl: r0 = 2 / dh rounded, the residual 2 - r0 dh
 *     is exact by fma, and rl = (2 - r0 dh - r0 dl) / dh, divided by
 *     multiplying with r0 / 2 (its own error is second order);
 *   - 1 - r0 as t + tl by Fast2Sum (|1| >= |r0|), then the result is
 *     t + (tl - rl): one final rounding (0.5 ulp) plus 0.37 * 0.7u, about
 *     0.26 ulp, at the switchover, less above it as r shrinks. (Measured
 *     over all floats: 0.63 ulp; the polynomial side: 0.74 ulp, just
 *     below 9/16 where tanh < 1/2 and the ulp is u/2.)
 *   a is clamped to 9.125 first: tanh rounds to 1 in float beyond 9.0109,
 *   and at 9.125 r < 2^-25, so the formula gives exactly 1 there (and for
 *   inf), and 2^k stays within float range (k <= 27).
 *
 * NaN: the comparison a >= 9/16 is false for NaN, so the polynomial path
 * is taken, and a NaN through it stays NaN. */
#define VT_CAT_(a, b) a##b
#define VT_CAT(a, b) VT_CAT_(a, b)

__attribute__((target(VT_TARGET))) static inline vt VT_NAME(vt x)
{
    const vt one = T_SET1(1.0f), two = T_SET1(2.0f);
    const vt sign = T_AND(x, T_SET1(-0.0f));
    const vt a = T_XOR(x, sign);

    /* a < 9/16 */
    const vt z = T_MUL(a, a);
    vt p = T_FMA(T_SET1(VT_P4), z, T_SET1(VT_P3));
    p = T_FMA(p, z, T_SET1(VT_P2));
    p = T_FMA(p, z, T_SET1(VT_P1));
    p = T_FMA(p, z, T_SET1(VT_P0));
    const vt small = T_FMA(T_MUL(z, a), p, a);

    /* a >= 9/16 */
    const vt b = T_MIN(a, T_SET1(VT_CLAMP));
    const vt m = T_FMA(b, T_SET1(VT_2_LN2), T_SET1(VT_SHIFTER));
    const vt k = T_SUB(m, T_SET1(VT_SHIFTER));
    vt s = T_FNMA(k, T_SET1(VT_LN2_HI), T_ADD(b, b));
    s = T_FNMA(k, T_SET1(VT_LN2_LO), s);
    vt q = T_FMA(T_SET1(VT_Q4), s, T_SET1(VT_Q3));
    q = T_FMA(q, s, T_SET1(VT_Q2));
    q = T_FMA(q, s, T_SET1(VT_Q1));
    q = T_FMA(q, s, T_SET1(VT_Q0));
    const vt pm = T_FMA(T_MUL(s, s), q, s);
    const vt scale = T_SHL23(m); /* 2^k */
    const vt sp1 = T_ADD(scale, one);
    const vt dh = T_FMA(scale, pm, sp1);
    const vt dl = T_FMA(scale, pm, T_SUB(sp1, dh));
    const vt r0 = T_DIV(two, dh);
    const vt res = T_FNMA(r0, dh, two);
    const vt rl = T_MUL(T_FNMA(r0, dl, res), T_MUL(r0, T_SET1(0.5f)));
    const vt t = T_SUB(one, r0);
    const vt tl = T_SUB(T_SUB(one, t), r0);
    const vt large = T_ADD(t, T_SUB(tl, rl));

    return T_XOR(T_SELECT_GE(a, T_SET1(VT_SWITCH), large, small), sign);
}

#undef VT_CAT_
#undef VT_CAT
#undef VT_NAME
#undef VT_TARGET
#undef vt
#undef T_SET1
#undef T_ADD
#undef T_SUB
#undef T_MUL
#undef T_DIV
#undef T_FMA
#undef T_FNMA
#undef T_MIN
#undef T_AND
#undef T_XOR
#undef T_SHL23
#undef T_SELECT_GE
