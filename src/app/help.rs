//! One-line meanings (with units) of the metric names the panels show, as hover text.

/// The meaning of metric `name` as the panels label it, or `None` for a name without one.
pub fn metric(name: &str) -> Option<&'static str> {
    Some(match name {
        "SQNR" => "signal-to-quantization-noise ratio against the float reference, in dB: 10 log10(signal power / error power); higher is better, +6 dB per bit",
        "RMSE / scale" => "root-mean-square error in units of the quantization step (scale); about 0.29 is pure rounding",
        "max |err|" => "largest absolute error against the float reference, in real units and in LSB (quantization steps)",
        "cosine" => "cosine similarity between quantized and float values (1 = same direction)",
        "clip rate" => "share of float values outside the representable range (0 to 1)",
        "levels used" => "how many distinct stored integers occur, of the dtype's 2^bits",
        "effective bits" => "log2 of the levels used: the precision the tensor actually has, in bits",
        "range used" => "share of the integer range between the smallest and largest stored value (0 to 1)",
        "saturated" => "values stored at the integer limits (count): possibly clipped",
        "scale spread" => "largest over smallest per-channel scale (ratio); large spreads hint at outlier channels",
        "dead channels" => "channels whose values are all zero (count)",
        "role" => "what the tensor is to its op (weights, bias, ...), from the op that reads it",
        "cumulative" => "cumulative SQNR (dB): float model tensor vs the dequantized quantized tensor, the error accumulated up to here",
        "local" => "local SQNR (dB): the quantized op's own error, its float kernel on the same dequantized inputs vs its dequantized output",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_metric_of_the_detail_grid_has_a_meaning() {
        let names = [
            "SQNR",
            "RMSE / scale",
            "max |err|",
            "cosine",
            "clip rate",
            "levels used",
            "effective bits",
            "range used",
            "saturated",
            "scale spread",
            "dead channels",
            "role",
        ];
        let n = names.iter().filter(|n| super::metric(n).is_some()).count();
        assert_eq!(n, names.len());
    }
}
