//! Streaming over stored tensor bytes: decoding little-endian elements in small blocks,
//! splitting a tensor into channel segments, and running a pass over chunks in parallel.
//!
//! Nothing here copies a tensor: each worker decodes `BLOCK` elements at a time into stack
//! buffers, so memory stays O(accumulators) whatever the tensor size.

use crate::model::DType;
use rayon::prelude::*;
use std::ops::Range;

/// Elements decoded at a time.
pub const BLOCK: usize = 2048;
/// Elements per parallel work item (a multiple of `BLOCK`).
pub const CHUNK: usize = 1 << 20;

/// Stored integers of at most 8 bits, decoded to a bin index `q - qmin` in `0..2^bits`.
#[derive(Clone, Copy, Debug)]
pub enum Narrow<'a> {
    I2(&'a [u8]),
    I4(&'a [u8]),
    U4(&'a [u8]),
    I8(&'a [u8]),
    U8(&'a [u8]),
}

/// `(bins, qmin)` of the narrow types (int2, int4, uint4, int8, uint8): one histogram bin per
/// value.
pub fn narrow_bins(dtype: DType) -> Option<(usize, i64)> {
    match dtype {
        DType::I2 | DType::I4 | DType::U4 | DType::I8 | DType::U8 => dtype
            .int_range()
            .map(|(lo, hi)| ((hi - lo + 1) as usize, lo)),
        _ => None,
    }
}

impl<'a> Narrow<'a> {
    pub fn new(dtype: DType, bytes: &'a [u8]) -> Option<Narrow<'a>> {
        Some(match dtype {
            DType::I2 => Narrow::I2(bytes),
            DType::I4 => Narrow::I4(bytes),
            DType::U4 => Narrow::U4(bytes),
            DType::I8 => Narrow::I8(bytes),
            DType::U8 => Narrow::U8(bytes),
            _ => return None,
        })
    }
    pub fn dtype(&self) -> DType {
        match self {
            Narrow::I2(_) => DType::I2,
            Narrow::I4(_) => DType::I4,
            Narrow::U4(_) => DType::U4,
            Narrow::I8(_) => DType::I8,
            Narrow::U8(_) => DType::U8,
        }
    }
    /// Lowest stored value (bin 0), from the one integer-range table ([`DType::int_range`]).
    pub fn qmin(&self) -> i64 {
        narrow_bins(self.dtype()).map_or(0, |b| b.1)
    }
    /// One bin per representable value.
    pub fn bins(&self) -> usize {
        narrow_bins(self.dtype()).map_or(0, |b| b.0)
    }
    #[inline]
    pub fn decode(&self, r: Range<usize>, out: &mut [u8]) {
        match self {
            // int8 -> q + 128: flipping the sign bit.
            Narrow::I8(b) => {
                for (o, &v) in out.iter_mut().zip(&b[r]) {
                    *o = v ^ 0x80;
                }
            }
            Narrow::U8(b) => out[..r.len()].copy_from_slice(&b[r]),
            // int4: two per byte, the first element in the low nibble; q + 8 = nibble ^ 8.
            Narrow::I4(b) => {
                for (o, i) in out.iter_mut().zip(r) {
                    let byte = b[i / 2];
                    let nib = if i % 2 == 0 { byte & 0x0F } else { byte >> 4 };
                    *o = nib ^ 0x08;
                }
            }
            Narrow::U4(b) => {
                for (o, i) in out.iter_mut().zip(r) {
                    let byte = b[i / 2];
                    *o = if i % 2 == 0 { byte & 0x0F } else { byte >> 4 };
                }
            }
            // int2: four per byte, lowest bits first (TFLite's Unpack2Bit); q + 2 = bits ^ 2.
            Narrow::I2(b) => {
                for (o, i) in out.iter_mut().zip(r) {
                    *o = ((b[i / 4] >> (2 * (i % 4))) & 0x03) ^ 0x02;
                }
            }
        }
    }
}

/// A stored tensor's bytes tagged with one of a few little-endian dtypes, decoded element range
/// by element range into one wide type: the variants are named after their `DType`.
macro_rules! le_elements {
    ($(#[$doc:meta])* $name:ident -> $out:ty { $($dtype:ident => $decode:expr),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub enum $name<'a> {
            $($dtype(&'a [u8]),)+
        }

        impl<'a> $name<'a> {
            pub fn new(dtype: DType, bytes: &'a [u8]) -> Option<$name<'a>> {
                Some(match dtype {
                    $(DType::$dtype => $name::$dtype(bytes),)+
                    _ => return None,
                })
            }
            #[inline]
            pub fn decode(&self, r: Range<usize>, out: &mut [$out]) {
                match self {
                    $($name::$dtype(b) => decode_le(b, r, out, $decode),)+
                }
            }
        }
    };
}

le_elements!(
    /// Stored integers wider than 8 bits.
    Wide -> i64 {
        I16 => |c| i16::from_le_bytes(c) as i64,
        I32 => |c| i32::from_le_bytes(c) as i64,
        I64 => i64::from_le_bytes,
    }
);

le_elements!(
    /// Stored floats, decoded to f64 (exactly: every f16/f32 is an f64).
    Floats -> f64 {
        F16 => |c| half::f16::from_le_bytes(c).to_f64(),
        F32 => |c| f32::from_le_bytes(c) as f64,
        F64 => f64::from_le_bytes,
    }
);

/// Decodes little-endian elements `r` of `W` bytes each from `b` into `out` with `f`.
#[inline(always)]
fn decode_le<const W: usize, T>(
    b: &[u8],
    r: Range<usize>,
    out: &mut [T],
    f: impl Fn([u8; W]) -> T,
) {
    for (o, c) in out
        .iter_mut()
        .zip(b[r.start * W..r.end * W].chunks_exact(W))
    {
        // chunks_exact(W) yields W bytes.
        *o = f(c.try_into().unwrap());
    }
}

/// The stored integer side of a pass.
#[derive(Clone, Copy, Debug)]
pub enum Ints<'a> {
    Narrow(Narrow<'a>),
    Wide(Wide<'a>),
}

/// How elements map to channels: element `i` is in channel `(i / inner) % channels`
/// (row-major storage, channel axis with `inner` elements after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub n: usize,
    pub channels: usize,
    pub inner: usize,
}

impl Layout {
    pub fn per_tensor(n: usize) -> Layout {
        Layout {
            n,
            channels: 1,
            inner: n.max(1),
        }
    }
    /// Channels along `axis` of `shape`; `None` if the axis is out of range or the element
    /// count overflows.
    pub fn along(shape: &[usize], axis: usize) -> Option<Layout> {
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
        let channels = *shape.get(axis)?;
        let inner = shape[axis + 1..].iter().product::<usize>().max(1);
        Some(Layout {
            n,
            channels: channels.max(1),
            inner,
        })
    }
    #[inline]
    pub fn channel(&self, i: usize) -> usize {
        (i / self.inner) % self.channels
    }
}

/// One decoded block segment: all elements in channel `c`.
pub struct Seg<'b> {
    pub c: usize,
    /// Element index of the segment's first element (its length is that of the non-empty
    /// slices, or `len`).
    pub start: usize,
    pub len: usize,
    /// `q - qmin` of stored narrow integers (empty if none).
    pub idx: &'b [u8],
    /// Stored wide integers (empty if none).
    pub wide: &'b [i64],
    /// The tensor's own float values (float tensors, simulated quantization; empty if none).
    pub v: &'b [f64],
    /// The paired float reference (empty if none).
    pub x: &'b [f64],
}

/// Runs `kernel` over every element of a tensor: chunks in parallel (rayon), each chunk decoded
/// block by block, each block cut into same-channel segments. Per-worker accumulators come from
/// `init` and are combined with `merge`.
pub fn scan<A, I, K, M>(
    layout: Layout,
    ints: Option<Ints<'_>>,
    own: Option<Floats<'_>>,
    reference: Option<Floats<'_>>,
    init: I,
    kernel: K,
    merge: M,
) -> A
where
    A: Send,
    I: Fn() -> A + Sync + Send,
    K: Fn(&mut A, Seg<'_>) + Sync + Send,
    M: Fn(A, A) -> A + Sync + Send,
{
    let n = layout.n;
    let chunks = n.div_ceil(CHUNK).max(1);
    // Few, long work items: bounds the number of accumulators (each may be a histogram per
    // channel) while leaving room for work stealing.
    let min_len = chunks.div_ceil(4 * rayon::current_num_threads()).max(1);
    // With nothing to decode the kernel reads the bytes itself: whole channel runs at once.
    let block = if ints.is_none() && own.is_none() && reference.is_none() {
        CHUNK
    } else {
        BLOCK
    };
    (0..chunks)
        .into_par_iter()
        .with_min_len(min_len)
        .fold(&init, |mut acc, k| {
            let mut idx = [0u8; BLOCK];
            let mut wide = [0i64; BLOCK];
            let mut v = [0f64; BLOCK];
            let mut x = [0f64; BLOCK];
            let end = n.min((k + 1) * CHUNK);
            let mut a = k * CHUNK;
            while a < end {
                let b = end.min(a + block);
                let len = b - a;
                match ints {
                    Some(Ints::Narrow(q)) => q.decode(a..b, &mut idx[..len]),
                    Some(Ints::Wide(q)) => q.decode(a..b, &mut wide[..len]),
                    None => {}
                }
                if let Some(f) = own {
                    f.decode(a..b, &mut v[..len]);
                }
                if let Some(f) = reference {
                    f.decode(a..b, &mut x[..len]);
                }
                let (ni, nw) = match ints {
                    Some(Ints::Narrow(_)) => (len, 0),
                    Some(Ints::Wide(_)) => (0, len),
                    None => (0, 0),
                };
                let nv = if own.is_some() { len } else { 0 };
                let nx = if reference.is_some() { len } else { 0 };
                // Same-channel runs inside the block.
                let mut i = a;
                while i < b {
                    let c = layout.channel(i);
                    let run_end = b.min((i / layout.inner + 1) * layout.inner);
                    let (s, e) = (i - a, run_end - a);
                    kernel(
                        &mut acc,
                        Seg {
                            c,
                            start: i,
                            len: run_end - i,
                            idx: &idx[s.min(ni)..e.min(ni)],
                            wide: &wide[s.min(nw)..e.min(nw)],
                            v: &v[s.min(nv)..e.min(nv)],
                            x: &x[s.min(nx)..e.min(nx)],
                        },
                    );
                    i = run_end;
                }
                a = b;
            }
            acc
        })
        .reduce(&init, merge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_follow_channels() {
        // shape [2, 3, 2], axis 1: inner 2, channels 3.
        let l = Layout::along(&[2, 3, 2], 1).unwrap();
        assert_eq!((l.n, l.channels, l.inner), (12, 3, 2));
        let per: Vec<u64> = scan(
            l,
            None,
            None,
            None,
            || vec![0u64; 3],
            |a, s| a[s.c] += s.x.len() as u64 + (s.len == 2) as u64,
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
        assert_eq!(per, vec![2, 2, 2]); // two runs per channel, no floats
        let mut o = [0u8; 4];
        Narrow::I4(&[0xF7, 0x80]).decode(0..4, &mut o);
        assert_eq!(o.map(|v| v as i64 - 8), [7, -1, 0, -8]);
        // int2 0b11_10_01_00 = [0, 1, -2, -1]; uint4 0xF7 = [7, 15].
        Narrow::I2(&[0b1110_0100]).decode(0..4, &mut o);
        assert_eq!(o.map(|v| v as i64 - 2), [0, 1, -2, -1]);
        Narrow::U4(&[0xF7]).decode(0..2, &mut o);
        assert_eq!(o[..2], [7, 15]);
    }
}
