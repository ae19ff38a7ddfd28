//! The >2 GB layout: buffers stored after the flatbuffer (`Buffer.offset`/`size`) must resolve
//! to exactly the bytes an inline model stores for the same weights.

use quantscope::model::{synthetic::FcChain, Model};

#[test]
fn external_and_inline_weights_are_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let layers = vec![(64, 48), (32, 64), (10, 32)];
    let inline = dir.path().join("inline.tflite");
    let external = dir.path().join("external.tflite");
    FcChain {
        layers: layers.clone(),
        external: false,
        fill: true,
    }
    .write(&inline)
    .unwrap();
    FcChain {
        layers,
        external: true,
        fill: true,
    }
    .write(&external)
    .unwrap();
    let a = Model::open(&inline).unwrap();
    let b = Model::open(&external).unwrap();
    assert!(b.buffers.iter().skip(1).all(|x| x.external));
    assert!(a.buffers.iter().all(|x| !x.external));
    let consts: Vec<_> = a.subgraphs[0]
        .tensors
        .iter()
        .filter(|t| t.is_constant)
        .map(|t| t.index)
        .collect();
    assert_eq!(consts.len(), 3);
    for t in consts {
        let (x, y) = (a.tensor_data(0, t).unwrap(), b.tensor_data(0, t).unwrap());
        assert_eq!(x.len(), y.len());
        assert!(x == y, "tensor {t} bytes differ");
        assert!(x.iter().any(|&v| v != 0));
    }
    assert_eq!(a.summary().kind, b.summary().kind);
}
