"""Exact count statistics for "new or worse in version N than in N-1" (domain.md §6).

Pure standard library (``math`` only): the detector runs inside the train tooling,
where SciPy/NumPy are not runtime dependencies. SciPy is used only by the tests to
cross-check these functions.

Model (§6): ``x1, t1`` are N's count of distinct affected requests and its exposure
(requests served); ``x0, t0`` are N-1's. Under H0 (equal rates),
``x1 | x1 + x0 ~ Binomial(n = x1 + x0, p0 = t1 / (t1 + t0))``, so every test here is
a binomial tail, evaluated exactly.

Numerics: binomial probabilities use Loader's saddle-point form (``stirlerr`` and
``bd0``, as in R's ``dbinom``) in log space, and tails use the continued fraction of
the regularized incomplete beta (modified Lentz). That keeps relative error near
1e-13 for counts up to 1e7 and beyond, where ``lgamma`` differences would lose ~8
digits to cancellation. All functions are deterministic.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Comparison",
    "StratifiedResult",
    "Stratum",
    "benjamini_hochberg",
    "bh_adjusted",
    "binom_logsf",
    "binom_sf",
    "clopper_pearson_lower",
    "compare",
    "estimate_dispersion",
    "is_significant",
    "min_events_for_significance",
    "rate_ratio",
    "rate_ratio_lower",
    "rate_ratio_test",
    "stratified_test",
]

_LN_2PI = math.log(2.0 * math.pi)
_LN_SQRT_2PI = 0.5 * _LN_2PI
_EPS = 2.220446049250313e-16
_TINY = 1e-300  # Lentz guard against division by zero
_CF_EPS = 1e-15
_CF_MAXIT = 1_000_000

# Relative tolerance for "p <= alpha": p-values computed in floating point can land
# one ulp above an exact tie (0.1**2 == 0.010000000000000002), see is_significant.
_TIE_RTOL = 1e-12


# --------------------------------------------------------------------------- #
# Input validation
# --------------------------------------------------------------------------- #


def _count(value: int, name: str) -> int:
    """Coerce an integer-like count (int, NumPy int) and reject negatives/floats."""
    try:
        k = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer count, got {value!r}") from None
    if k < 0:
        raise ValueError(f"{name} must be >= 0, got {k}")
    return k


def _exposure(value: float, name: str) -> float:
    """Exposure must be a finite positive number: zero exposure has no rate to test.

    Callers must turn "no exposure" into INSUFFICIENT (§6 decision model) instead of
    asking for a p-value.
    """
    t = float(value)
    if not math.isfinite(t) or t < 0.0:
        raise ValueError(f"{name} must be a finite exposure >= 0, got {value!r}")
    if t == 0.0:
        raise ValueError(
            f"{name} is 0: no exposure (no requests served), so there is no rate to compare; "
            "report the signature as INSUFFICIENT instead of testing it"
        )
    return t


def _alpha(value: float, name: str = "alpha") -> float:
    a = float(value)
    if not 0.0 < a < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return a


def _null_share(t1: float, t0: float) -> tuple[float, float]:
    """(p0, 1 - p0) with both computed directly, so neither loses digits near 0 or 1."""
    total = t1 + t0
    return t1 / total, t0 / total


# --------------------------------------------------------------------------- #
# Binomial core: log pmf (Loader) and tail via incomplete-beta continued fraction
# --------------------------------------------------------------------------- #

_S0 = 1.0 / 12.0
_S1 = 1.0 / 360.0
_S2 = 1.0 / 1260.0
_S3 = 1.0 / 1680.0
_S4 = 1.0 / 1188.0

# stirlerr(k) for k = 1..15; small enough that lgamma's absolute error (~1e-14) is harmless.
_STIRLERR_SMALL = [0.0] + [
    math.lgamma(k + 1.0) - (k + 0.5) * math.log(k) + k - _LN_SQRT_2PI for k in range(1, 16)
]


def _stirlerr(n: int) -> float:
    """log(n!) - log(sqrt(2 pi n) (n/e)^n), the Stirling-formula error, for integer n >= 1."""
    if n <= 15:
        return _STIRLERR_SMALL[n]
    nf = float(n)
    nn = nf * nf
    if n > 500:
        return (_S0 - _S1 / nn) / nf
    if n > 80:
        return (_S0 - (_S1 - _S2 / nn) / nn) / nf
    if n > 35:
        return (_S0 - (_S1 - (_S2 - _S3 / nn) / nn) / nn) / nf
    return (_S0 - (_S1 - (_S2 - (_S3 - _S4 / nn) / nn) / nn) / nn) / nf


def _bd0(x: float, np_: float) -> float:
    """Deviance term x log(x/np) + np - x, computed without cancellation (Loader 2000)."""
    if abs(x - np_) < 0.1 * (x + np_):
        v = (x - np_) / (x + np_)
        s = (x - np_) * v
        ej = 2.0 * x * v
        v2 = v * v
        j = 1
        while True:
            ej *= v2
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
            j += 1
    return x * math.log(x / np_) + np_ - x


def _log_dbinom(x: int, n: int, p: float, q: float) -> float:
    """log P(X = x) for X ~ Binomial(n, p); ``q`` is 1 - p supplied separately for accuracy."""
    if x < 0 or x > n:
        return -math.inf
    if p == 0.0:
        return 0.0 if x == 0 else -math.inf
    if q == 0.0:
        return 0.0 if x == n else -math.inf
    if x == 0:
        if n == 0:
            return 0.0
        return n * (math.log1p(-p) if p < q else math.log(q))
    if x == n:
        return n * (math.log1p(-q) if q < p else math.log(p))
    lc = _stirlerr(n) - _stirlerr(x) - _stirlerr(n - x) - _bd0(float(x), n * p) - _bd0(float(n - x), n * q)
    lf = _LN_2PI + math.log(x) + math.log(n - x) - math.log(n)  # log(2 pi x (n-x) / n)
    return lc - 0.5 * lf


def _betacf(a: float, b: float, x: float, y: float) -> float:
    """Continued fraction F with I_x(a, b) = x^a y^b / (B(a, b) F); y = 1 - x given exactly.

    This is the DiDonato-Morris form used by Boost (``ibeta_fraction2``), evaluated by
    modified Lentz. Unlike the Numerical Recipes form, it uses y explicitly and, in its
    convergence region x < (a + 1) / (a + b + 2), all terms are positive, so nothing
    cancels when x is close to 1 with huge a. For integer b the fraction terminates
    after b terms; near the mean of huge binomials it needs O(sqrt(n)) terms.
    """
    f = a * (a * y - b * x + 1.0) / (a + 1.0)
    if f < _TINY:
        f = _TINY
    c = f
    d = 0.0
    for m in range(1, _CF_MAXIT + 1):
        denom = a + 2.0 * m - 1.0
        a_m = (a + m - 1.0) * (a + b + m - 1.0) * m * (b - m) * x * x / (denom * denom)
        b_m = (
            m
            + m * (b - m) * x / denom
            + (a + m) * (a * y - b * x + 1.0 + m * (2.0 - x)) / (a + 2.0 * m + 1.0)
        )
        d = b_m + a_m * d
        if abs(d) < _TINY:
            d = _TINY
        c = b_m + a_m / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = c * d
        f *= delta
        if abs(delta - 1.0) <= _CF_EPS:
            return f
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def _log_sf(k: int, n: int, p: float, q: float) -> float:
    """log P(X >= k), X ~ Binomial(n, p), with q = 1 - p given separately.

    P(X >= k) = I_p(k, n - k + 1), and the incomplete-beta prefactor
    p^k q^(n-k+1) / B(k, n-k+1) equals k * pmf(k) * q, so the small tail is
    k * pmf(k) * q / F, all in logs (no early underflow). The large tail is
    1 - P(X <= k - 1) = 1 - (n-k+1) * pmf(k-1) * p / F', where the subtracted term is
    at most ~1/2, so nothing is lost.
    """
    if k <= 0:
        return 0.0
    if k > n:
        return -math.inf
    if p == 0.0:
        return -math.inf
    if q == 0.0:
        return 0.0
    if p < (k + 1.0) / (n + 3.0):
        return (
            math.log(k)
            + _log_dbinom(k, n, p, q)
            + math.log(q)
            - math.log(_betacf(float(k), float(n - k + 1), p, q))
        )
    log_cdf = (
        math.log(n - k + 1)
        + _log_dbinom(k - 1, n, p, q)
        + math.log(p)
        - math.log(_betacf(float(n - k + 1), float(k), q, p))
    )
    cdf = math.exp(log_cdf)
    if cdf >= 1.0:  # rounding at the extreme; the true tail is below one ulp
        return -math.inf
    return math.log1p(-cdf)


def _check_binom_args(k: int, n: int, p: float) -> tuple[int, int, float]:
    kk = operator.index(k)
    nn = _count(n, "n")
    pp = float(p)
    if not 0.0 <= pp <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    return kk, nn, pp


def binom_logsf(k: int, n: int, p: float) -> float:
    """Natural log of P(X >= k) for X ~ Binomial(n, p).

    Useful to rank signatures whose p-values underflow ``binom_sf`` to 0 (< 1e-308).
    """
    kk, nn, pp = _check_binom_args(k, n, p)
    return _log_sf(kk, nn, pp, 1.0 - pp)


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact to ~1e-13 relative, for n up to 1e7+.

    This is the one-sided p-value of the §6 conditional test; equals
    ``scipy.stats.binomtest(k, n, p, alternative='greater').pvalue``.
    ``k <= 0`` gives 1.0 and ``k > n`` gives 0.0.
    """
    return math.exp(binom_logsf(k, n, p))


# --------------------------------------------------------------------------- #
# Pairwise test, Clopper-Pearson bound, rate ratio (§6)
# --------------------------------------------------------------------------- #


def rate_ratio_test(x1: int, t1: float, x0: int, t0: float) -> float:
    """One-sided exact conditional p-value for H1: rate(N) > rate(N-1) (§6).

    Conditioning on n = x1 + x0 removes the unknown baseline rate, so the test is
    exact even for sparse counts (where Kayenta's Mann-Whitney fails).
    ``n == 0`` gives 1.0 (no evidence). Zero exposure raises ValueError.
    """
    k1 = _count(x1, "x1")
    k0 = _count(x0, "x0")
    e1 = _exposure(t1, "t1")
    e0 = _exposure(t0, "t0")
    n = k1 + k0
    if n == 0:
        return 1.0
    p0, q0 = _null_share(e1, e0)
    return math.exp(_log_sf(k1, n, p0, q0))


def _norm_isf(alpha: float) -> float:
    """z with P(Z > z) = alpha; only a starting guess for the Clopper-Pearson solver."""
    z = math.sqrt(-2.0 * math.log(min(alpha, 0.5))) if alpha < 0.5 else 0.0
    for _ in range(50):
        f = 0.5 * math.erfc(z / math.sqrt(2.0)) - alpha
        dens = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        if dens == 0.0:
            break
        step = f / dens
        z += step
        if abs(step) < 1e-12 * max(1.0, abs(z)):
            break
    return z


def _cp_solve(x: int, n: int, log_a: float, q_mode: bool, v: float) -> float:
    """Root v of g(v) = log P(Binomial(n, pi) >= x) - log(alpha), v = pi or v = 1 - pi.

    Safeguarded Newton in u = log(v) (log sf is nearly linear in log pi for small
    pi, so this converges in a few steps even for roots near 1e-300), falling back
    to bisection whenever a step leaves the bracket.
    """
    lo, hi = 0.0, 1.0
    sign = -1.0 if q_mode else 1.0  # g increases with v in p-mode, decreases in q-mode
    for _ in range(200):
        p, q = (1.0 - v, v) if q_mode else (v, 1.0 - v)
        ls = _log_sf(x, n, p, q)
        g = ls - log_a
        if g == 0.0:
            return v
        if (g < 0.0) != q_mode:  # root lies above v
            lo = v
        else:
            hi = v
        # d/dpi P(X >= x) = n * pmf(x - 1; n - 1, pi), so
        # dg/du = +-v * n * pmf(x - 1; n - 1, pi) / sf, formed in logs.
        log_slope = math.log(v) + math.log(n) + _log_dbinom(x - 1, n - 1, p, q) - ls
        new_v = math.nan
        if -700.0 < log_slope < 700.0:
            du = -g / (sign * math.exp(log_slope))
            if abs(du) <= 4.0 * _EPS:  # converged: the step no longer changes v
                return v
            new_v = v * math.exp(max(min(du, 50.0), -50.0))
        if not lo < new_v < hi:
            if lo == 0.0:
                new_v = hi * 1e-3
            elif hi / lo > 4.0:
                new_v = math.sqrt(lo * hi)
            else:
                new_v = 0.5 * (lo + hi)
        if abs(new_v - v) <= 4.0 * _EPS * v or hi - lo <= 4.0 * _EPS * hi:
            return new_v
        v = new_v
    return v


def _cp_lower_pair(x: int, n: int, alpha: float) -> tuple[float, float]:
    """(pi_L, 1 - pi_L) for the one-sided Clopper-Pearson lower bound, both accurate.

    pi_L solves P(Binomial(n, pi) >= x) = alpha (equivalently beta.ppf(alpha, x, n-x+1)).
    Returning the complement separately keeps the odds pi_L / (1 - pi_L) accurate when
    pi_L is close to 1 (x0 small against a large x1), which RR_L needs.
    """
    if x == 0:
        return 0.0, 1.0
    log_a = math.log(alpha)
    if x == n:  # P(X >= n) = pi^n
        return math.exp(log_a / n), -math.expm1(log_a / n)

    # Starting guess: continuity-corrected Wilson bound.
    z = _norm_isf(alpha)
    ph = (x - 0.5) / n
    z2n = z * z / n
    centre = (ph + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(ph * (1.0 - ph) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    guess = min(max(centre - half, 1e-300), 1.0 - 1e-16)
    # Iterate on whichever of pi, 1 - pi is the smaller side, so it keeps full
    # relative precision; if the guess picked the wrong side, re-solve on the other.
    q_mode = guess > 0.5
    v = _cp_solve(x, n, log_a, q_mode, 1.0 - guess if q_mode else guess)
    if v > 0.5:
        q_mode = not q_mode
        v = _cp_solve(x, n, log_a, q_mode, 1.0 - v)
    return (1.0 - v, v) if q_mode else (v, 1.0 - v)


def clopper_pearson_lower(x: int, n: int, alpha: float) -> float:
    """One-sided (1 - alpha) Clopper-Pearson lower bound for a binomial proportion x/n.

    Equals ``scipy.stats.beta.ppf(alpha, x, n - x + 1)``; 0.0 when x == 0. Exact
    (never anti-conservative), which matters for the sparse counts of a canary.
    """
    k = _count(x, "x")
    nn = _count(n, "n")
    if k > nn:
        raise ValueError(f"x must be <= n, got x={k}, n={nn}")
    return _cp_lower_pair(k, nn, _alpha(alpha))[0]


def rate_ratio(x1: int, t1: float, x0: int, t0: float) -> float:
    """Point estimate RR = (x1/t1) / (x0/t0) (§6 effect size).

    ``inf`` when x0 == 0 and x1 > 0; ``nan`` when both counts are 0 (no data,
    the ratio is undefined; nan compares False against any threshold).
    """
    k1 = _count(x1, "x1")
    k0 = _count(x0, "x0")
    e1 = _exposure(t1, "t1")
    e0 = _exposure(t0, "t0")
    if k0 == 0:
        return math.inf if k1 > 0 else math.nan
    return (k1 * e0) / (k0 * e1)


def rate_ratio_lower(x1: int, t1: float, x0: int, t0: float, alpha: float = 0.01) -> float:
    """Exact one-sided (1 - alpha) lower bound RR_L of the rate ratio (§6).

    RR_L = pi_L / (1 - pi_L) * t0 / t1 with pi_L the Clopper-Pearson lower bound of
    x1 / (x1 + x0). §6 gates ELEVATED on RR_L (practical significance), not on RR.
    Finite even when x0 == 0 (pi_L = alpha**(1/x1) < 1); ``inf`` only if pi_L rounds
    to 1. 0.0 when x1 == 0.
    """
    k1 = _count(x1, "x1")
    k0 = _count(x0, "x0")
    e1 = _exposure(t1, "t1")
    e0 = _exposure(t0, "t0")
    a = _alpha(alpha)
    if k1 == 0:
        return 0.0
    lo, one_minus_lo = _cp_lower_pair(k1, k1 + k0, a)
    if one_minus_lo <= 0.0:
        return math.inf
    return lo / one_minus_lo * (e0 / e1)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Evidence for one signature, N vs N-1 (§6 "every decision returns" counts, p, RR).

    ``excess`` = x1 - n*p0 is the number of requests above what N's traffic share
    predicts; §6 requires it to be practically large (>= 3 requests/h) as well.
    """

    p: float
    rr: float
    rr_lower: float
    excess: float
    n: int
    p0: float


def compare(x1: int, t1: float, x0: int, t0: float, alpha: float = 0.01) -> Comparison:
    """Run the §6 exact test and effect sizes for one signature (see the §6 sketch)."""
    k1 = _count(x1, "x1")
    k0 = _count(x0, "x0")
    e1 = _exposure(t1, "t1")
    e0 = _exposure(t0, "t0")
    n = k1 + k0
    p0, _ = _null_share(e1, e0)
    return Comparison(
        p=rate_ratio_test(k1, e1, k0, e0),
        rr=rate_ratio(k1, e1, k0, e0),
        rr_lower=rate_ratio_lower(k1, e1, k0, e0, alpha),
        excess=k1 - n * p0,
        n=n,
        p0=p0,
    )


# --------------------------------------------------------------------------- #
# Brand-new signatures (§6 table) and significance convention
# --------------------------------------------------------------------------- #


def is_significant(p: float, alpha: float) -> bool:
    """p <= alpha, treating a floating-point tie (within 1e-12 relative) as equal.

    The §6 brand-new table counts exact ties as significant (10% share, 2 events:
    p = 0.1**2 = 0.01 is listed as "p < 0.01"), but in floating point
    0.1**2 == 0.010000000000000002. Use this instead of a bare ``<`` so the
    decision rules agree with ``min_events_for_significance``.
    """
    return p <= alpha * (1.0 + _TIE_RTOL)


def min_events_for_significance(share: float, alpha: float, *, strict: bool = False) -> int:
    """Smallest x1 such that a brand-new signature (x0 == 0) is significant (§6 table).

    With x0 == 0 the exact p-value is share**x1, where ``share`` = t1 / (t1 + t0) is
    N's traffic share. Default: share**x1 <= alpha with exact ties counted (this
    reproduces the §6 table: 1%→1/2, 5%→2/3, 10%→2/3, 25%→4/5, 50%→7/10 for
    alpha 0.01/0.001). ``strict=True`` requires share**x1 < alpha strictly, which
    differs only at exact ties (1% and 10% shares then need one more event).
    It shows why §6 needs a practical floor (>= 3 requests, >= 2 wikis).
    """
    s = float(share)
    if not 0.0 < s < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share!r}")
    a = _alpha(alpha)
    r = math.log(a) / math.log(s)  # share**x <= alpha  <=>  x >= r
    tol = _TIE_RTOL * max(1.0, r)
    if strict:
        return max(1, math.floor(r + tol) + 1)
    return max(1, math.ceil(r - tol))


# --------------------------------------------------------------------------- #
# Multiplicity (§6 robustness 3)
# --------------------------------------------------------------------------- #


def _check_pvalues(pvalues: Sequence[float]) -> list[float]:
    ps = [float(p) for p in pvalues]
    for p in ps:
        if not 0.0 <= p <= 1.0:  # also rejects nan
            raise ValueError(f"p-values must be in [0, 1], got {p!r}")
    return ps


def bh_adjusted(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in input order.

    q_(i) = min_{j >= i} min(1, m p_(j) / j); monotone in p and equal to
    ``scipy.stats.false_discovery_control(p, method='bh')``. A train run tests
    hundreds of signatures, so §6 flags for triage on FDR, not raw p.
    """
    ps = _check_pvalues(pvalues)
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    out = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, m * ps[i] / rank)
        out[i] = max(ps[i], running)  # >= p in exact arithmetic; undo 1-ulp rounding
    return out


def benjamini_hochberg(pvalues: Sequence[float], q: float) -> list[bool]:
    """Which hypotheses the BH step-up procedure rejects at FDR level q (§6: q = 0.01).

    Defined as ``bh_adjusted(p) <= q`` so the displayed q-values and the flags can
    never disagree.
    """
    qq = float(q)
    if not 0.0 < qq <= 1.0:
        raise ValueError(f"q must be in (0, 1], got {q!r}")
    return [adj <= qq for adj in bh_adjusted(pvalues)]


# --------------------------------------------------------------------------- #
# Stratified test and overdispersion (§6 robustness 1 and 2)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class Stratum:
    """Counts and exposures of N (x1, t1) and N-1 (x0, t0) in one stratum (wiki group x hour).

    A stratum may have zero exposure on one side (e.g. an hour before promotion) as
    long as that side has no events; it is then uninformative and skipped.
    """

    x1: int
    t1: float
    x0: int
    t0: float

    def __post_init__(self) -> None:
        _count(self.x1, "x1")
        _count(self.x0, "x0")
        for name, t in (("t1", self.t1), ("t0", self.t0)):
            if not math.isfinite(float(t)) or float(t) < 0.0:
                raise ValueError(f"{name} must be a finite exposure >= 0, got {t!r}")
        if float(self.t1) == 0.0 and self.x1 > 0:
            raise ValueError(f"stratum has x1={self.x1} events but t1=0 exposure")
        if float(self.t0) == 0.0 and self.x0 > 0:
            raise ValueError(f"stratum has x0={self.x0} events but t0=0 exposure")


@dataclass(frozen=True, slots=True)
class StratifiedResult:
    """Result of ``stratified_test``.

    ``rr`` = observed / expected is the standardized ratio of N's counts to what its
    exposure share predicts; it equals the rate ratio only when p0 is small (a canary)
    and understates it otherwise (RR 2 at equal shares gives 4/3). ``rr_mh`` is the
    Mantel-Haenszel rate-ratio estimate, comparable to ``rate_ratio``.
    """

    observed: int
    expected: float
    variance: float
    z: float
    p: float
    rr: float
    rr_mh: float
    excess: float
    dispersion: float


def stratified_test(strata: Sequence[Stratum], dispersion: float = 1.0) -> StratifiedResult:
    """Mantel-Haenszel / Cochran one-sided test pooled over strata (§6 robustness 1b).

    N and N-1 serve different wikis at different hours, so comparing totals confounds
    version with traffic mix; within-stratum comparisons remove that. O = sum x1,
    E = sum n_s p0_s, Var = sum n_s p0_s (1 - p0_s), z = (O - E - 1/2) / sqrt(Var * phi)
    (continuity-corrected, quasi-Poisson phi from ``estimate_dispersion``), p = P(Z >= z).
    No informative stratum gives z = 0, p = 1. Zero total exposure on either side
    raises ValueError (report INSUFFICIENT).
    """
    phi = float(dispersion)
    if not math.isfinite(phi) or phi <= 0.0:
        raise ValueError(f"dispersion must be a finite number > 0, got {dispersion!r}")
    if not strata:
        raise ValueError("stratified_test needs at least one stratum")
    total_t1 = sum(float(s.t1) for s in strata)
    total_t0 = sum(float(s.t0) for s in strata)
    _exposure(total_t1, "total t1")
    _exposure(total_t0, "total t0")

    observed = 0
    expected = 0.0
    variance = 0.0
    mh_num = 0.0
    mh_den = 0.0
    for s in strata:
        x1 = operator.index(s.x1)
        x0 = operator.index(s.x0)
        t1 = float(s.t1)
        t0 = float(s.t0)
        if t1 == 0.0 or t0 == 0.0:
            continue  # one side unexposed: O and E contributions are equal, Var 0
        p0, q0 = _null_share(t1, t0)
        n = x1 + x0
        observed += x1
        expected += n * p0
        variance += n * p0 * q0
        mh_num += x1 * q0  # x1 t0 / T
        mh_den += x0 * p0  # x0 t1 / T

    excess = observed - expected
    if variance > 0.0:
        z = (excess - 0.5) / math.sqrt(variance * phi)
        p = 0.5 * math.erfc(z / math.sqrt(2.0))
    else:
        z, p = 0.0, 1.0
    rr = observed / expected if expected > 0.0 else (math.inf if observed > 0 else math.nan)
    rr_mh = mh_num / mh_den if mh_den > 0.0 else (math.inf if mh_num > 0.0 else math.nan)
    return StratifiedResult(
        observed=observed,
        expected=expected,
        variance=variance,
        z=z,
        p=p,
        rr=rr,
        rr_mh=rr_mh,
        excess=excess,
        dispersion=phi,
    )


def estimate_dispersion(pairs: Sequence[tuple[int, float, int, float]]) -> float:
    """Quasi-Poisson dispersion phi from stable signatures' N-1 vs N-2 comparisons (§6 robustness 2).

    Each pair is (x1, t1, x0, t0) for one signature that did not change between the
    two versions. Under the binomial null the Pearson residual
    r = (x1 - n p0) / sqrt(n p0 (1 - p0)) has E[r^2] = 1; bursty error counts inflate
    it. phi = mean of r^2 over pairs with n > 0 (no parameters are fitted, p0 comes
    from exposure, so no degrees-of-freedom correction), floored at 1.0 so it can only
    make tests more conservative. Returns 1.0 when no pair has events. Every pair
    weighs the same, so one very bursty signature can dominate: pass signatures
    believed stable, and prefer counting distinct requests (§6 "unit of count").
    """
    total = 0.0
    used = 0
    for x1, t1, x0, t0 in pairs:
        k1 = _count(x1, "x1")
        k0 = _count(x0, "x0")
        e1 = _exposure(t1, "t1")
        e0 = _exposure(t0, "t0")
        n = k1 + k0
        if n == 0:
            continue
        p0, q0 = _null_share(e1, e0)
        resid = k1 - n * p0
        total += resid * resid / (n * p0 * q0)
        used += 1
    if used == 0:
        return 1.0
    return max(1.0, total / used)
