//! Descriptive statistics: streaming central moments (mergeable across chunks and channels),
//! histograms, and the integer-range figures (levels used, effective bits, range use).

use serde::Serialize;

/// Count, extremes and central moments of a set of values, mergeable in any order
/// (Chan/Pébay's pairwise update), so chunks and channels can be summarised in parallel.
///
/// `m2`, `m3`, `m4` are the central sums `sum (v - mean)^k`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub mean: f64,
    pub m2: f64,
    pub m3: f64,
    pub m4: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            n: 0,
            mean: 0.0,
            m2: 0.0,
            m3: 0.0,
            m4: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Moments {
    /// Moments of a slice: two sweeps (mean, then central sums), exact up to f64 rounding.
    pub fn of_slice(v: &[f64]) -> Moments {
        let n4 = v.len() / 4 * 4;
        Moments::two_pass(
            v.len() as u64,
            || {
                // Four lanes each: independent dependency chains the CPU can overlap.
                let (mut s, mut lo, mut hi) =
                    ([0.0; 4], [f64::INFINITY; 4], [f64::NEG_INFINITY; 4]);
                for c in v[..n4].chunks_exact(4) {
                    for k in 0..4 {
                        s[k] += c[k];
                        lo[k] = lo[k].min(c[k]);
                        hi[k] = hi[k].max(c[k]);
                    }
                }
                for &x in &v[n4..] {
                    s[0] += x;
                    lo[0] = lo[0].min(x);
                    hi[0] = hi[0].max(x);
                }
                (
                    s[0] + s[1] + s[2] + s[3],
                    lo[0].min(lo[1]).min(lo[2]).min(lo[3]),
                    hi[0].max(hi[1]).max(hi[2]).max(hi[3]),
                )
            },
            |mean| {
                let (mut m2, mut m3, mut m4) = ([0.0; 4], [0.0; 4], [0.0; 4]);
                for c in v[..n4].chunks_exact(4) {
                    for k in 0..4 {
                        let d = c[k] - mean;
                        let d2 = d * d;
                        m2[k] += d2;
                        m3[k] += d2 * d;
                        m4[k] += d2 * d2;
                    }
                }
                for &x in &v[n4..] {
                    let d = x - mean;
                    let d2 = d * d;
                    m2[0] += d2;
                    m3[0] += d2 * d;
                    m4[0] += d2 * d2;
                }
                let sum4 = |a: [f64; 4]| (a[0] + a[1]) + (a[2] + a[3]);
                [sum4(m2), sum4(m3), sum4(m4)]
            },
        )
    }

    /// Moments of a weighted set: `count[k]` copies of `value(k)` (a histogram of exact values).
    pub fn of_counts(counts: &[u64], value: impl Fn(usize) -> f64) -> Moments {
        let present = || (counts.iter().enumerate()).filter(|&(_, &c)| c > 0);
        Moments::two_pass(
            counts.iter().sum(),
            || {
                let (mut s, mut lo, mut hi) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
                for (k, &c) in present() {
                    let v = value(k);
                    s += c as f64 * v;
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
                (s, lo, hi)
            },
            |mean| {
                let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
                for (k, &c) in present() {
                    let d = value(k) - mean;
                    let w = c as f64;
                    m2 += w * d * d;
                    m3 += w * d * d * d;
                    m4 += w * d * d * d * d;
                }
                [m2, m3, m4]
            },
        )
    }

    /// The two sweeps both constructors make over `n` values: `sums` gives `(sum, min, max)`,
    /// then `central` the central sums `[m2, m3, m4]` about the mean.
    fn two_pass(
        n: u64,
        sums: impl FnOnce() -> (f64, f64, f64),
        central: impl FnOnce(f64) -> [f64; 3],
    ) -> Moments {
        if n == 0 {
            return Moments::default();
        }
        let (s, min, max) = sums();
        let mean = s / n as f64;
        let [m2, m3, m4] = central(mean);
        Moments {
            n,
            mean,
            m2,
            m3,
            m4,
            min,
            max,
        }
    }

    /// Combines two disjoint sets (Pébay 2008, eq. 3.1).
    pub fn merge(&self, o: &Moments) -> Moments {
        if self.n == 0 {
            return *o;
        }
        if o.n == 0 {
            return *self;
        }
        let (na, nb) = (self.n as f64, o.n as f64);
        let n = na + nb;
        let d = o.mean - self.mean;
        let d2 = d * d;
        let mean = self.mean + d * nb / n;
        let m2 = self.m2 + o.m2 + d2 * na * nb / n;
        let m3 = self.m3
            + o.m3
            + d2 * d * na * nb * (na - nb) / (n * n)
            + 3.0 * d * (na * o.m2 - nb * self.m2) / n;
        let m4 = self.m4
            + o.m4
            + d2 * d2 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n)
            + 6.0 * d2 * (na * na * o.m2 + nb * nb * self.m2) / (n * n)
            + 4.0 * d * (na * o.m3 - nb * self.m3) / n;
        Moments {
            n: self.n + o.n,
            mean,
            m2,
            m3,
            m4,
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }

    /// The moments of `s * (v - z)` (dequantization), from those of `v`.
    pub fn affine(&self, s: f64, z: f64) -> Moments {
        if self.n == 0 {
            return *self;
        }
        let (a, b) = (s * (self.min - z), s * (self.max - z));
        Moments {
            n: self.n,
            mean: s * (self.mean - z),
            m2: s * s * self.m2,
            m3: s * s * s * self.m3,
            m4: s * s * s * s * self.m4,
            min: a.min(b),
            max: a.max(b),
        }
    }

    /// Population standard deviation `sqrt(m2 / n)` (numpy's `std`, ddof = 0).
    pub fn std(&self) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        (self.m2 / self.n as f64).max(0.0).sqrt()
    }

    /// Excess kurtosis `n m4 / m2^2 - 3` (Fisher, biased: scipy's `kurtosis` defaults; 0 for a
    /// normal distribution, -1.2 for a uniform one). `None` when all values are equal.
    pub fn kurtosis(&self) -> Option<f64> {
        if self.n < 2 || self.m2 <= 0.0 {
            return None;
        }
        let n = self.n as f64;
        Some(n * self.m4 / (self.m2 * self.m2) - 3.0)
    }

    pub fn summary(&self) -> Option<Summary> {
        (self.n > 0).then(|| Summary {
            min: self.min,
            max: self.max,
            mean: self.mean,
            std: self.std(),
            kurtosis: self.kurtosis(),
        })
    }
}

/// What reports show of [`Moments`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Population standard deviation (ddof = 0).
    pub std: f64,
    /// Excess kurtosis (normal = 0); null when all values are equal.
    pub kurtosis: Option<f64>,
}

/// A histogram: `counts[k]` values fell in `[edges[k], edges[k+1])`, the last bin closed
/// (numpy's convention, `edges.len() == counts.len() + 1`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

impl Histogram {
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(lo, hi, count)` of every bin that has both edges.
    pub fn bins(&self) -> impl Iterator<Item = (f64, f64, u64)> + '_ {
        self.counts
            .iter()
            .zip(self.edges.windows(2))
            .map(|(&c, e)| (e[0], e[1], c))
    }

    /// This histogram as `[bin centre, count]` points scaled to the area of `base` (its total
    /// times its bin width), so a histogram with other bins overlays `base` shape for shape.
    pub fn scaled_to(&self, base: &Histogram) -> Vec<[f64; 2]> {
        let width = |h: &Histogram| {
            h.edges
                .get(1)
                .zip(h.edges.first())
                .map_or(1.0, |(b, a)| b - a)
        };
        let (wb, ws) = (width(base), width(self));
        let k = if ws > 0.0 {
            wb / ws * base.total() as f64 / self.total().max(1) as f64
        } else {
            1.0
        };
        self.bins()
            .map(|(a, b, c)| [(a + b) / 2.0, c as f64 * k])
            .collect()
    }
}

/// Equal-width bins over `[lo, hi]` that assign values exactly as `numpy.histogram(v, bins,
/// range=(lo, hi))` does (same edges from `linspace`, same edge corrections), so histograms
/// can be compared count for count with numpy.
#[derive(Clone, Debug)]
pub struct Binner {
    pub edges: Vec<f64>,
    lo: f64,
    norm: f64,
}

impl Binner {
    pub fn new(lo: f64, hi: f64, bins: usize) -> Binner {
        let bins = bins.max(1);
        let (lo, hi) = if lo == hi {
            (lo - 0.5, hi + 0.5)
        } else {
            (lo, hi)
        };
        // numpy.linspace: lo + k * step, the last edge set to hi exactly.
        let step = (hi - lo) / bins as f64;
        let mut edges: Vec<f64> = (0..=bins).map(|k| lo + k as f64 * step).collect();
        edges[bins] = hi;
        Binner {
            edges,
            lo,
            norm: bins as f64 / (hi - lo),
        }
    }

    pub fn bins(&self) -> usize {
        self.edges.len() - 1
    }

    /// Bin of `v`, or `None` outside `[lo, hi]` (and for NaN).
    #[inline]
    pub fn bin(&self, v: f64) -> Option<usize> {
        let nb = self.bins();
        if !(v >= self.lo && v <= self.edges[nb]) {
            return None;
        }
        let mut k = (((v - self.lo) * self.norm) as usize).min(nb - 1);
        if v < self.edges[k] {
            k -= 1;
        } else if k + 1 < nb && v >= self.edges[k + 1] {
            k += 1;
        }
        Some(k)
    }

    pub fn into_histogram(self, counts: Vec<u64>) -> Histogram {
        Histogram {
            edges: self.edges,
            counts,
        }
    }
}

/// Integer-aligned bins for wide integers: one bin per value when at most `max_bins` values
/// span `[min, max]`, else `max_bins` bins of equal integer width `w = ceil(span / max_bins)`
/// starting at `min` (edges `min + k w`).
#[derive(Clone, Copy, Debug)]
pub struct IntBinner {
    pub min: i64,
    pub width: i64,
    pub bins: usize,
}

impl IntBinner {
    pub fn new(min: i64, max: i64, max_bins: usize) -> IntBinner {
        let span = (max as i128 - min as i128 + 1).max(1) as u128;
        let width = span.div_ceil(max_bins as u128).max(1) as i64;
        let bins = span.div_ceil(width as u128) as usize;
        IntBinner { min, width, bins }
    }
    #[inline]
    pub fn bin(&self, q: i64) -> usize {
        (((q as i128 - self.min as i128) / self.width as i128) as usize).min(self.bins - 1)
    }
    pub fn edges(&self) -> Vec<f64> {
        (0..=self.bins)
            // In f64: the span of an i64 tensor's values can overflow k * width in i64.
            .map(|k| self.min as f64 + k as f64 * self.width as f64)
            .collect()
    }
}

/// How a set of stored integers uses its range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RangeUse {
    /// Distinct integer values present.
    pub levels_used: u64,
    /// `log2(levels_used)`: bits actually carrying information (8 at most for int8).
    pub effective_bits: f64,
    /// `(max - min) / (range_max - range_min)`: share of the quantization range spanned.
    pub range_used: f64,
    /// Values at or beyond the range limits (`q <= range_min` or `q >= range_max`).
    pub saturated: u64,
}

impl RangeUse {
    pub fn new(levels: u64, qmin: i64, qmax: i64, range: (i64, i64), saturated: u64) -> RangeUse {
        RangeUse {
            levels_used: levels,
            effective_bits: effective_bits(levels),
            range_used: (qmax as f64 - qmin as f64) / (range.1 as f64 - range.0 as f64),
            saturated,
        }
    }
}

/// `log2(levels)`, 0 for one level or none.
pub fn effective_bits(levels: u64) -> f64 {
    if levels <= 1 {
        0.0
    } else {
        (levels as f64).log2()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn overlay_keeps_the_area_of_the_base() {
        // Base: 4 bins of width 1 holding 8 values (area 8). Other: 2 bins of width 2 holding
        // 2 values; scaled by (1 / 2) * (8 / 2) = 2 its area is (2 + 2) * 2 = 8 too.
        let base = Histogram {
            edges: vec![0.0, 1.0, 2.0, 3.0, 4.0],
            counts: vec![1, 3, 3, 1],
        };
        let other = Histogram {
            edges: vec![0.0, 2.0, 4.0],
            counts: vec![1, 1],
        };
        let pts = other.scaled_to(&base);
        assert_eq!(pts, vec![[1.0, 2.0], [3.0, 2.0]]);
        let area: f64 = pts.iter().map(|p| p[1] * 2.0).sum();
        assert_eq!(area, base.total() as f64);
        assert_eq!(base.bins().count(), 4);
    }
    use super::*;

    #[test]
    fn moments_by_hand() {
        // 1, 2, 3, 4: mean 2.5, variance 1.25, m4 = 2 * (1.5^4 + 0.5^4) = 10.25,
        // kurtosis = 4 * 10.25 / 5^2 - 3 = -1.36.
        let m = Moments::of_slice(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.mean, 2.5);
        assert!((m.std() - 1.25f64.sqrt()).abs() < 1e-15);
        assert!((m.kurtosis().unwrap() + 1.36).abs() < 1e-12);
        let merged = Moments::of_slice(&[1.0, 2.0]).merge(&Moments::of_slice(&[3.0, 4.0]));
        for (a, b) in [
            (merged.mean, m.mean),
            (merged.m2, m.m2),
            (merged.m3, m.m3),
            (merged.m4, m.m4),
        ] {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let c = Moments::of_counts(&[1, 1, 1, 1], |k| (k + 1) as f64);
        assert!((c.m4 - m.m4).abs() < 1e-12);
        assert_eq!(Moments::of_slice(&[3.0; 5]).kurtosis(), None);
        // Dequantization: 0.5 * (v - 2).
        let a = m.affine(0.5, 2.0);
        assert_eq!((a.mean, a.min, a.max), (0.25, -0.5, 1.0));
        assert!((a.kurtosis().unwrap() - m.kurtosis().unwrap()).abs() < 1e-12);
    }

    #[test]
    fn binner_matches_numpy_edges() {
        // np.histogram([0, 0.1, 0.5, 1.0], bins=4, range=(0, 1)) -> [2, 0, 1, 1]
        let b = Binner::new(0.0, 1.0, 4);
        let mut c = vec![0u64; 4];
        for v in [0.0, 0.1, 0.5, 1.0] {
            c[b.bin(v).unwrap()] += 1;
        }
        assert_eq!(c, vec![2, 0, 1, 1]);
        assert_eq!(b.bin(1.5), None);
        let ib = IntBinner::new(-1000, 1000, 256);
        assert_eq!(ib.width, 8);
        assert_eq!(ib.bins, 251);
        assert_eq!(ib.bin(1000), 250);
        assert_eq!(effective_bits(256), 8.0);
    }
}
