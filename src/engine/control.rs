//! Ops the engine runs itself because they touch its state or other subgraphs: resource
//! variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE), CALL_ONCE, IF and WHILE.

use super::{code, Engine, EngineError, Value};
use crate::model::{Model, Operator};
use tract_tflite::tflite::{self, BuiltinOperator as B};

/// The subgraphs a control-flow op calls (CALL_ONCE: init; WHILE: cond, body; IF: then, else).
pub(super) fn sub_indices(
    model: &Model,
    sg: usize,
    op: &Operator,
) -> Result<Vec<usize>, EngineError> {
    let fb = model.fb_operator(sg, op.index);
    let subs = match code(op) {
        Some(B::CALL_ONCE) => fb
            .and_then(|f| f.builtin_options_as_call_once_options())
            .map(|o| vec![o.init_subgraph_index() as usize]),
        Some(B::WHILE) => fb
            .and_then(|f| f.builtin_options_as_while_options())
            .map(|o| {
                vec![
                    o.cond_subgraph_index() as usize,
                    o.body_subgraph_index() as usize,
                ]
            }),
        Some(B::IF) => fb.and_then(|f| f.builtin_options_as_if_options()).map(|o| {
            vec![
                o.then_subgraph_index() as usize,
                o.else_subgraph_index() as usize,
            ]
        }),
        _ => return Ok(vec![]),
    };
    subs.ok_or_else(|| {
        EngineError::msg(format!(
            "subgraph {sg} op {} {}: its options naming the subgraphs it calls are missing",
            op.index, op.op
        ))
    })
}

impl Engine<'_> {
    /// Runs control-flow op `op` of subgraph `sg` on the values in `env`.
    pub(super) fn run_control(
        &mut self,
        sg: usize,
        op: &Operator,
        fb: tflite::Operator<'_>,
        env: &[Option<Value>],
    ) -> Result<Vec<Value>, EngineError> {
        let model = self.model;
        let s = &model.subgraphs[sg];
        let get = |i: usize| -> Result<Value, EngineError> {
            let t = *op
                .inputs
                .get(i)
                .ok_or_else(|| EngineError::msg(format!("missing input {i}")))?;
            if t < 0 {
                return Err(EngineError::msg(format!("input {i} is absent")));
            }
            env[t as usize]
                .as_ref()
                .or(self.consts[sg][t as usize].as_ref())
                .cloned()
                .ok_or_else(|| {
                    EngineError::msg(format!(
                        "input {i} (tensor {t} '{}') has no value",
                        s.tensors[t as usize].name
                    ))
                })
        };
        match code(op) {
            Some(B::VAR_HANDLE) => {
                let o = fb.builtin_options_as_var_handle_options();
                let key = (
                    o.and_then(|o| o.container()).unwrap_or("").to_string(),
                    o.and_then(|o| o.shared_name()).unwrap_or("").to_string(),
                );
                let next = self.var_ids.len() as i32;
                let id = *self.var_ids.entry(key).or_insert(next);
                return Ok(vec![Value::Resource(id)]);
            }
            Some(B::READ_VARIABLE) => {
                let Value::Resource(id) = get(0)? else {
                    return Err(EngineError::msg("input 0 is not a resource handle"));
                };
                let v = self.vars.get(&id).cloned().ok_or_else(|| {
                    EngineError::msg(format!("resource variable {id} read before assignment"))
                })?;
                return Ok(vec![v]);
            }
            Some(B::ASSIGN_VARIABLE) => {
                let Value::Resource(id) = get(0)? else {
                    return Err(EngineError::msg("input 0 is not a resource handle"));
                };
                let v = get(1)?;
                self.vars.insert(id, v);
                return Ok(vec![]);
            }
            Some(B::CALL_ONCE) => {
                let sub = sub_indices(model, sg, op)?[0];
                if self.call_once_done.insert(sub) {
                    self.run_subgraph(sub, vec![], None)?;
                }
                return Ok(vec![]);
            }
            Some(B::IF) => {
                let subs = sub_indices(model, sg, op)?;
                let cond = get(0)?;
                let c = cond.to_i64_vec()?.first().copied().unwrap_or(0) != 0;
                let args = (1..op.inputs.len())
                    .map(get)
                    .collect::<Result<Vec<_>, _>>()?;
                return self.run_subgraph(if c { subs[0] } else { subs[1] }, args, None);
            }
            Some(B::WHILE) => {
                let subs = sub_indices(model, sg, op)?;
                let mut vals = (0..op.inputs.len())
                    .map(get)
                    .collect::<Result<Vec<_>, _>>()?;
                loop {
                    if self.cancelled() {
                        return Err(EngineError::Cancelled);
                    }
                    let c = self.run_subgraph(subs[0], vals.clone(), None)?;
                    let go = c
                        .first()
                        .map(|v| v.to_i64_vec())
                        .transpose()?
                        .and_then(|v| v.first().copied())
                        .unwrap_or(0)
                        != 0;
                    if !go {
                        return Ok(vals);
                    }
                    vals = self.run_subgraph(subs[1], vals, None)?;
                }
            }
            _ => Err(EngineError::msg("control-flow op without a handler")),
        }
    }
}
