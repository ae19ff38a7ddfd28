//! The bundled example, embedded so the app works from any directory: the digit classifier
//! (float, int8, and for Trade-offs its fp16 and dynamic-range variants) with images for Trade-offs.

use super::Example;

pub const EXAMPLE: Example = Example {
    float: include_bytes!("../../assets/digits_f32.tflite"),
    quant: include_bytes!("../../assets/digits_int8.tflite"),
    labels: include_str!("../../assets/digits_labels.txt"),
    image: include_bytes!("../../assets/samples/digit_2_0.png"),
    variants: &[
        (
            "digits_fp16.tflite",
            include_bytes!("../../assets/digits_fp16.tflite"),
        ),
        (
            "digits_dynamic.tflite",
            include_bytes!("../../assets/digits_dynamic.tflite"),
        ),
    ],
    // Images under their class folders, so Trade-offs takes labels from folders.
    eval_images: &[
        (
            "0/digit_0_0.png",
            include_bytes!("../../assets/samples/digit_0_0.png"),
        ),
        (
            "1/digit_1_0.png",
            include_bytes!("../../assets/samples/digit_1_0.png"),
        ),
        (
            "2/digit_2_0.png",
            include_bytes!("../../assets/samples/digit_2_0.png"),
        ),
        (
            "4/digit_4_0.png",
            include_bytes!("../../assets/samples/digit_4_0.png"),
        ),
        (
            "6/digit_6_0.png",
            include_bytes!("../../assets/samples/digit_6_0.png"),
        ),
        (
            "7/digit_7_0.png",
            include_bytes!("../../assets/samples/digit_7_0.png"),
        ),
        (
            "8/digit_8_0.png",
            include_bytes!("../../assets/samples/digit_8_0.png"),
        ),
        (
            "9/digit_9_0.png",
            include_bytes!("../../assets/samples/digit_9_0.png"),
        ),
        // Two noisy digits from the eval fixtures that int8 gets wrong and float right, so the
        // example shows flips.
        (
            "6/n197.png",
            include_bytes!("../../tests/fixtures/eval_images/6/n197.png"),
        ),
        (
            "7/n435.png",
            include_bytes!("../../tests/fixtures/eval_images/7/n435.png"),
        ),
    ],
};
