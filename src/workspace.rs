//! Open models and how they pair (float with quantized): the policy behind the app's tabs,
//! without the GUI, so it is tested as a library and any front end pairs the same way.
//!
//! A workspace is a list of models (anything [`Pairable`]), each with an id, a kind (float or
//! not) and a partner. A quantized model points at its float twin; one float model can be the
//! twin of several quantized ones (int8, fp16, dynamic-range variants of one model) and points
//! back at the one paired last, whose comparison its tab shows. Pairing a second quantized
//! model with a float model leaves the first one paired.

/// A model in a workspace.
pub trait Pairable {
    fn id(&self) -> u64;
    /// Float32 or float16-weights model (the reference side of a pair).
    fn is_float(&self) -> bool;
    fn paired(&self) -> Option<u64>;
    fn set_paired(&mut self, partner: Option<u64>);
}

/// The position of model `id`.
pub fn index_of<T: Pairable>(models: &[T], id: u64) -> Option<usize> {
    models.iter().position(|m| m.id() == id)
}

/// Whom a newly opened model `id` pairs with: the `requested` model when it is open
/// (`quantscope MODEL FLOAT_MODEL`, the bundled example), else the one unpaired model of the
/// other kind, if there is exactly one.
pub fn auto_partner<T: Pairable>(models: &[T], id: u64, requested: Option<u64>) -> Option<u64> {
    if let Some(r) = requested.filter(|&r| r != id && index_of(models, r).is_some()) {
        return Some(r);
    }
    let me = &models[index_of(models, id)?];
    let mut cands = models
        .iter()
        .filter(|m| m.id() != id && m.paired().is_none() && m.is_float() != me.is_float());
    match (cands.next(), cands.next()) {
        (Some(c), None) => Some(c.id()),
        _ => None,
    }
}

/// Pairs model `a` with `b` (`None` unpairs `a`). Returns the positions of every model whose
/// pairing changed (their analyses and comparisons must restart), ascending.
pub fn pair<T: Pairable>(models: &mut [T], a: u64, b: Option<u64>) -> Vec<usize> {
    let Some(i) = index_of(models, a) else {
        return Vec::new();
    };
    let mut changed = vec![i];
    detach(models, i, &mut changed);
    if let Some(bi) = b.and_then(|b| index_of(models, b)).filter(|&bi| bi != i) {
        // A float `b` keeps its other quantized twins; any other `b` leaves its old partner.
        if !(models[bi].is_float() && !models[i].is_float()) {
            detach(models, bi, &mut changed);
        }
        models[bi].set_paired(Some(a));
        models[i].set_paired(b);
        changed.push(bi);
    }
    changed.sort();
    changed.dedup();
    changed
}

/// Frees model `i` from its partner. A partner that pointed back at `i` points instead at
/// another model still pointing at it (a float model's other twin), else at nothing.
fn detach<T: Pairable>(models: &mut [T], i: usize, changed: &mut Vec<usize>) {
    let id = models[i].id();
    let Some(old) = models[i].paired() else {
        return;
    };
    models[i].set_paired(None);
    if let Some(j) = index_of(models, old) {
        if models[j].paired() == Some(id) {
            let next = other_pointing_at(models, old, id);
            models[j].set_paired(next);
        }
        changed.push(j);
    }
}

/// A model other than `except` whose partner is `target`.
fn other_pointing_at<T: Pairable>(models: &[T], target: u64, except: u64) -> Option<u64> {
    models
        .iter()
        .find(|m| m.id() != except && m.id() != target && m.paired() == Some(target))
        .map(|m| m.id())
}

/// Frees every partner of model `id` (about to be closed); returns their positions.
pub fn unpair_closing<T: Pairable>(models: &mut [T], id: u64) -> Vec<usize> {
    let pointing: Vec<usize> = (0..models.len())
        .filter(|&j| models[j].paired() == Some(id))
        .collect();
    for &j in &pointing {
        let me = models[j].id();
        let next = other_pointing_at(models, me, id);
        models[j].set_paired(next);
    }
    pointing
}

/// The float partner of model `i` when `i` is the quantized side of a pair.
pub fn float_partner<T: Pairable>(models: &[T], i: usize) -> Option<usize> {
    let m = models.get(i)?;
    if m.is_float() {
        return None;
    }
    m.paired()
        .and_then(|id| index_of(models, id))
        .filter(|&j| models[j].is_float())
}

/// The model whose comparison serves model `i`: a float model defers to its quantized partner
/// (comparisons run on the quantized side).
pub fn compare_owner<T: Pairable>(models: &[T], i: usize) -> usize {
    match models.get(i) {
        Some(m) if m.is_float() => m.paired().and_then(|id| index_of(models, id)).unwrap_or(i),
        _ => i,
    }
}

/// The float model to quantize in simulation for model `i`: itself when float, else its
/// float partner.
pub fn float_source<T: Pairable>(models: &[T], i: usize) -> Option<usize> {
    match models.get(i) {
        Some(m) if m.is_float() => Some(i),
        Some(_) => float_partner(models, i),
        None => None,
    }
}

/// Names that tell open files apart: a file name shared by several files gets as many of its
/// parent folders as make it unique (`a/model.tflite`, `b/model.tflite`).
pub fn distinct_names(files: &[(&str, Option<&std::path::Path>)]) -> Vec<String> {
    let parts = |k: usize| -> Vec<String> {
        let (name, path) = files[k];
        let mut v: Vec<String> = path
            .map(|p| {
                p.parent()
                    .into_iter()
                    .flat_map(|d| d.components().rev())
                    .map(|c| c.as_os_str().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.insert(0, name.to_string());
        v
    };
    let all: Vec<Vec<String>> = (0..files.len()).map(parts).collect();
    let label = |v: &Vec<String>, depth: usize| -> String {
        let mut p: Vec<&str> = v.iter().take(depth + 1).map(String::as_str).collect();
        p.reverse();
        p.join("/")
    };
    (0..files.len())
        .map(|k| {
            let mut depth = 0;
            while depth + 1 < all[k].len()
                && all
                    .iter()
                    .enumerate()
                    .any(|(j, o)| j != k && label(o, depth) == label(&all[k], depth))
            {
                depth += 1;
            }
            label(&all[k], depth)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct M(u64, bool, Option<u64>);
    impl Pairable for M {
        fn id(&self) -> u64 {
            self.0
        }
        fn is_float(&self) -> bool {
            self.1
        }
        fn paired(&self) -> Option<u64> {
            self.2
        }
        fn set_paired(&mut self, p: Option<u64>) {
            self.2 = p;
        }
    }

    fn partners(ms: &[M]) -> Vec<Option<u64>> {
        ms.iter().map(|m| m.2).collect()
    }

    #[test]
    fn a_new_model_pairs_with_the_one_unpaired_model_of_the_other_kind() {
        let ms = vec![M(1, true, None), M(2, false, None)];
        assert_eq!(auto_partner(&ms, 2, None), Some(1));
        // Two float candidates: ambiguous, no automatic pair.
        let ms = vec![M(1, true, None), M(3, true, None), M(2, false, None)];
        assert_eq!(auto_partner(&ms, 2, None), None);
        // An explicit request wins, when that model is open.
        assert_eq!(auto_partner(&ms, 2, Some(3)), Some(3));
        assert_eq!(auto_partner(&ms, 2, Some(9)), None);
        // Same kind never pairs automatically.
        let ms = vec![M(1, false, None), M(2, false, None)];
        assert_eq!(auto_partner(&ms, 2, None), None);
    }

    #[test]
    fn pairing_frees_old_partners_and_reports_every_change() {
        let mut ms = vec![M(1, true, None), M(2, false, None), M(3, true, None)];
        assert_eq!(pair(&mut ms, 2, Some(1)), vec![0, 1]);
        assert_eq!(partners(&ms), vec![Some(2), Some(1), None]);
        // Re-pair 2 with 3: 1 loses its partner.
        assert_eq!(pair(&mut ms, 2, Some(3)), vec![0, 1, 2]);
        assert_eq!(partners(&ms), vec![None, Some(3), Some(2)]);
        assert_eq!(float_partner(&ms, 1), Some(2));
        assert_eq!(compare_owner(&ms, 2), 1);
        assert_eq!(compare_owner(&ms, 0), 0);
        assert_eq!(float_source(&ms, 1), Some(2));
        assert_eq!(float_source(&ms, 0), Some(0));
        // Unpair.
        assert_eq!(pair(&mut ms, 3, None), vec![1, 2]);
        assert_eq!(partners(&ms), vec![None, None, None]);
        assert_eq!(float_partner(&ms, 1), None);
        // Closing a paired model frees its partner.
        pair(&mut ms, 1, Some(2));
        assert_eq!(unpair_closing(&mut ms, 1), vec![1]);
        assert_eq!(partners(&ms), vec![Some(2), None, None]);
    }

    #[test]
    fn same_file_names_get_their_folders() {
        use std::path::Path;
        let a = Path::new("/m/int8/model.tflite");
        let b = Path::new("/m/fp16/model.tflite");
        let c = Path::new("/m/float.tflite");
        let names = distinct_names(&[
            ("model.tflite", Some(a)),
            ("model.tflite", Some(b)),
            ("float.tflite", Some(c)),
            ("digits.tflite", None),
        ]);
        assert_eq!(
            names,
            [
                "int8/model.tflite",
                "fp16/model.tflite",
                "float.tflite",
                "digits.tflite"
            ]
        );
    }

    #[test]
    fn a_float_model_is_the_twin_of_several_quantized_ones() {
        // 1 float; 2 and 3 quantized variants of it.
        let mut ms = vec![M(1, true, None), M(2, false, None), M(3, false, None)];
        assert_eq!(pair(&mut ms, 2, Some(1)), vec![0, 1]);
        assert_eq!(pair(&mut ms, 3, Some(1)), vec![0, 2]);
        // 2 stays paired; the float shows the one paired last.
        assert_eq!(partners(&ms), vec![Some(3), Some(1), Some(1)]);
        assert_eq!(float_partner(&ms, 1), Some(0));
        assert_eq!(float_partner(&ms, 2), Some(0));
        assert_eq!(compare_owner(&ms, 0), 2);
        // Unpairing 3: the float falls back to its other twin.
        assert_eq!(pair(&mut ms, 3, None), vec![0, 2]);
        assert_eq!(partners(&ms), vec![Some(2), Some(1), None]);
        // Closing the float frees every twin.
        pair(&mut ms, 3, Some(1));
        assert_eq!(unpair_closing(&mut ms, 1), vec![1, 2]);
        assert_eq!(partners(&ms)[1..], [None, None]);
        // Closing a quantized twin: the float points at the other one.
        let mut ms = vec![M(1, true, None), M(2, false, None), M(3, false, None)];
        pair(&mut ms, 2, Some(1));
        pair(&mut ms, 3, Some(1));
        assert_eq!(unpair_closing(&mut ms, 3), vec![0]);
        assert_eq!(partners(&ms), vec![Some(2), Some(1), Some(1)]);
    }
}
