#!/usr/bin/python3
"""Coefficients of simd::exp's polynomial (include/attnflow/simd.hpp): a near-minimax polynomial
of degree 11 for e^r on |r| <= ln2/2, from mpmath's Chebyshev fit at 200-bit precision, rounded to
the nearest doubles and printed in Horner order (highest degree first) as hexadecimal literals.

    /usr/bin/python3 scripts/exp_coefficients.py      (needs Debian's python3-mpmath)

It also prints the fit's error bound and the largest relative error of the rounded coefficients'
polynomial on 20001 points of the interval, evaluated exactly (no arithmetic rounding): both are
far below half an ulp (1.1e-16), so the exponential's error is that of its floating-point steps.
"""
import mpmath as mp

DEGREE = 11


def main():
    mp.mp.prec = 200
    half_ln2 = mp.log(2) / 2
    poly, fit_error = mp.chebyfit(mp.exp, [-half_ln2, half_ln2], DEGREE + 1, error=True)
    coefficients = [float(c) for c in poly]  # nearest doubles, highest degree first
    worst = mp.mpf(0)
    for i in range(20001):
        r = -half_ln2 + 2 * half_ln2 * i / 20000
        value = mp.mpf(0)
        for c in coefficients:
            value = value * r + mp.mpf(c)
        worst = max(worst, abs(value / mp.exp(r) - 1))
    print(f"// degree {DEGREE}: fit error {mp.nstr(fit_error, 3)}, "
          f"rounded coefficients' relative error {mp.nstr(worst, 3)}")
    for c in coefficients:
        print(f"{c.hex()},  // {c!r}")


if __name__ == "__main__":
    main()
