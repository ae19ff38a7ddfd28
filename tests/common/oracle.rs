//! The engine oracle test's bookkeeping: what was compared (counts, printed and parsed back by
//! the fallback-vector-path rerun) and how one tensor is compared with the interpreter's.

use quantscope::engine::Value;

/// What a run compared, or (from the manifests alone) what it must compare.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub models: usize,
    pub invocations: usize,
    /// Model outputs compared.
    pub outputs: usize,
    /// Saved intermediate tensors (and model inputs) compared.
    pub intermediates: usize,
    /// Integer (and bool) tensors equal to the oracle bit for bit.
    pub int_exact: usize,
    /// Integer tensors within a few units of the default kernels (no `ref`, or downstream of
    /// an int8/int16 SUM, see `ref_sum_exception`).
    pub int_near: usize,
    /// Float tensors within 1e-4 * max|ref|.
    pub float: usize,
    /// Intermediates computed from a broken reference SUM: no oracle value to check.
    pub not_checked: usize,
}

const FIELDS: [&str; 8] = [
    "models",
    "invocations",
    "outputs",
    "intermediates",
    "int_exact",
    "int_near",
    "float",
    "not_checked",
];

impl Counts {
    pub fn fields(&self) -> [usize; 8] {
        [
            self.models,
            self.invocations,
            self.outputs,
            self.intermediates,
            self.int_exact,
            self.int_near,
            self.float,
            self.not_checked,
        ]
    }

    pub fn from_fields(f: [usize; 8]) -> Counts {
        Counts {
            models: f[0],
            invocations: f[1],
            outputs: f[2],
            intermediates: f[3],
            int_exact: f[4],
            int_near: f[5],
            float: f[6],
            not_checked: f[7],
        }
    }

    pub fn add(&mut self, o: &Counts) {
        let (a, b) = (self.fields(), o.fields());
        *self = Counts::from_fields(std::array::from_fn(|i| a[i] + b[i]));
    }

    /// `<test> counts: models=.. invocations=.. ...`, parsed back by the fallback-path test.
    pub fn line(&self, test: &str) -> String {
        let kv: Vec<String> = FIELDS
            .iter()
            .zip(self.fields())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{test} counts: {}", kv.join(" "))
    }

    pub fn parse(out: &str, test: &str) -> Option<Counts> {
        let rest = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{test} counts: ")))?;
        let mut f = [usize::MAX; 8];
        for kv in rest.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            f[FIELDS.iter().position(|x| *x == k)?] = v.parse().ok()?;
        }
        (!f.contains(&usize::MAX)).then(|| Counts::from_fields(f))
    }
}

pub struct Diff {
    pub what: String,
    pub detail: String,
}

/// One comparison: whether the oracle is a float tensor, max |difference|, max |oracle|, and
/// whether that is within tolerance.
pub struct Cmp {
    pub float: bool,
    pub maxd: f64,
    pub maxr: f64,
    pub ok: bool,
}

/// Floats within 1e-4 * max|ref| (NaN where the oracle has NaN, equal infinities); integers and
/// bools as integers, within `int_tol` units; strings equal.
pub fn compare(ours: &Value, want: &Value, int_tol: i64) -> Result<Cmp, String> {
    if ours.dtype() != want.dtype() {
        return Err(format!("dtype {} vs {}", ours.dtype(), want.dtype()));
    }
    if ours.shape() != want.shape() {
        return Err(format!("shape {:?} vs {:?}", ours.shape(), want.shape()));
    }
    match (ours, want) {
        (Value::F32(_) | Value::F16(_), _) => {
            let a = ours.to_f32_lossy().map_err(|e| e.to_string())?;
            let b = want.to_f32_lossy().map_err(|e| e.to_string())?;
            let (mut maxd, mut maxr, mut nan_mismatch) = (0f64, 0f64, false);
            for (&x, &y) in a.iter().zip(b.iter()) {
                if x.is_nan() != y.is_nan() {
                    nan_mismatch = true;
                    continue;
                }
                if x.is_nan() || (x.is_infinite() && x == y) {
                    continue;
                }
                maxd = maxd.max((x as f64 - y as f64).abs());
                maxr = maxr.max((y as f64).abs());
            }
            let ok = !nan_mismatch && maxd <= 1e-4 * maxr + 1e-7;
            Ok(Cmp {
                float: true,
                maxd,
                maxr,
                ok,
            })
        }
        (Value::Str(a), Value::Str(b)) => Ok(Cmp {
            float: false,
            maxd: (a != b) as u8 as f64,
            maxr: 0.0,
            ok: a == b,
        }),
        _ => {
            let a = ours.to_i64_vec().map_err(|e| e.to_string())?;
            let b = want.to_i64_vec().map_err(|e| e.to_string())?;
            let (mut maxd, mut maxr) = (0i128, 0i128);
            for (&x, &y) in a.iter().zip(&b) {
                maxd = maxd.max((x as i128 - y as i128).abs());
                maxr = maxr.max((y as i128).abs());
            }
            Ok(Cmp {
                float: false,
                maxd: maxd as f64,
                maxr: maxr as f64,
                ok: maxd <= int_tol as i128,
            })
        }
    }
}
