//! DEPTH_TO_SPACE and SPACE_TO_DEPTH on any element type.

#[allow(unused_imports)]
use super::*;

pub(super) fn block_size(ctx: &OpCtx) -> usize {
    match ctx.name() {
        "DEPTH_TO_SPACE" => ctx
            .fb
            .builtin_options_as_depth_to_space_options()
            .map(|o| o.block_size()),
        _ => ctx
            .fb
            .builtin_options_as_space_to_depth_options()
            .map(|o| o.block_size()),
    }
    .unwrap_or(1)
    .max(1) as usize
}

pub fn depth_to_space(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let bs = block_size(ctx);
    let s = x.shape().to_vec();
    if s.len() != 4 || s[3] % (bs * bs) != 0 {
        bail!("input {s:?} with block size {bs}");
    }
    let oc = s[3] / (bs * bs);
    let six = [s[0], s[1], s[2], bs, bs, oc];
    let out = [s[0], s[1] * bs, s[2] * bs, oc];
    Ok(vec![
        map_value!(x, a => reshape_t(&permute_t(reshape_t(a, &six)?.view(), &[0, 1, 3, 2, 4, 5]), &out)?),
    ])
}

pub fn space_to_depth(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let bs = block_size(ctx);
    let s = x.shape().to_vec();
    if s.len() != 4 || s[1] % bs != 0 || s[2] % bs != 0 {
        bail!("input {s:?} with block size {bs}");
    }
    let six = [s[0], s[1] / bs, bs, s[2] / bs, bs, s[3]];
    let out = [s[0], s[1] / bs, s[2] / bs, bs * bs * s[3]];
    Ok(vec![
        map_value!(x, a => reshape_t(&permute_t(reshape_t(a, &six)?.view(), &[0, 1, 3, 2, 4, 5]), &out)?),
    ])
}
