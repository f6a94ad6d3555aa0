#!/usr/bin/python3
"""Fits the float coefficients of the single-precision tanh kernel
(autograd/vtanh.h) and prints them as C. Needs numpy and mpmath (Debian's
python3-numpy, python3-mpmath); no network.

Two polynomials, each a near-minimax fit by iteratively reweighted least
squares (Lawson's algorithm) on a dense grid, with reference values from
mpmath at 50 digits, then rounded to float one coefficient at a time (the
remaining ones refitted after each rounding, so later coefficients absorb
the rounding of earlier ones):

  tanh(a) ~ a + a^3 P(a^2)        on 0 <= a <= T    (relative error weighted)
  expm1(s) ~ s + s^2 Q(s)         on |s| <= ln2/2  (error relative to e^s)

The printed "max error" is that of the float coefficients evaluated
exactly, in units of 2^-24 (the float unit roundoff u; 1 ulp is 2u at
the bottom of a binade and u at the top)."""
import sys
import mpmath
import numpy as np

mpmath.mp.dps = 50
T = 0.5625


def lawson(x, f, w, deg, fixed, iters=200):
    """min over c of max |w (sum c_j x^j - f)| with c_j for j < len(fixed) given"""
    V = np.vander(x, deg + 1, increasing=True)
    k = len(fixed)
    rhs = f - V[:, :k] @ np.array(fixed, dtype=float) if k else f.copy()
    A = V[:, k:]
    lw = np.ones_like(x) / len(x)
    for _ in range(iters):
        sw = np.sqrt(lw) * w
        c, *_ = np.linalg.lstsq(A * sw[:, None], rhs * sw, rcond=None)
        e = np.abs((A @ c - rhs) * w)
        lw = lw * (e + 1e-300)
        lw /= lw.sum()
    return list(fixed) + list(c)


def fit(x, f, w, deg):
    coef = []
    for i in range(deg + 1):
        c = lawson(x, f, w, deg, coef)
        coef.append(float(np.float32(c[i])))
    V = np.vander(x, deg + 1, increasing=True)
    return coef, np.max(np.abs((V @ np.array(coef) - f) * w))


def grid(lo, hi, n):
    # Chebyshev-like clustering at the ends plus a uniform part
    t = np.cos(np.linspace(0, np.pi, n))
    return np.unique(np.concatenate([lo + (hi - lo) * (t + 1) / 2, np.linspace(lo, hi, n)]))


def tanh_fit(deg):
    a = grid(0, T, 3000)[1:]
    z = a * a
    f = np.array([float((mpmath.tanh(mpmath.mpf(v)) - v) / mpmath.mpf(v) ** 3) for v in a])
    th = np.tanh(a)
    w = a ** 3 / th
    return fit(z, f, w, deg)


def expm1_fit(deg):
    h = float(mpmath.log(2)) / 2 * 1.0001
    s = grid(-h, h, 3000)
    s = s[s != 0]
    f = np.array([float((mpmath.expm1(mpmath.mpf(v)) - v) / mpmath.mpf(v) ** 2) for v in s])
    w = s * s / np.exp(s)
    return fit(s, f, w, deg)


def show(name, coef, err):
    print("/* %s: max error %.3g u */" % (name, err / 2.0 ** -24))
    for i, c in enumerate(coef):
        print("#define %s%d %.9gf /* %s */" % (name, i, c, np.float32(c).hex() if hasattr(np.float32(c), 'hex') else float(c).hex()))


if __name__ == "__main__":
    for d in range(3, 7):
        c, e = tanh_fit(d)
        show("TANH_P%d_" % d, c, e)
    for d in range(3, 7):
        c, e = expm1_fit(d)
        show("EXPM1_Q%d_" % d, c, e)
