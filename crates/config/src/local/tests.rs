//! The local models' tasks beyond text and embeddings: their names and defaults.

use crate::tests::{error, load};
use crate::LocalTask;

#[test]
fn image_rerank_and_classification_models_have_their_tasks_and_defaults() {
    let c = load(
        "[[models]]\nname = \"sd\"\ntask = \"text-to-image\"\nsource = \"/m/sd\"\nsteps = 4\nguidance = 0.0\n\
         [[models]]\nname = \"rr\"\ntask = \"rerank\"\nsource = \"/m/rr\"\n\
         [[models]]\nname = \"cls\"\ntask = \"text-classification\"\nsource = \"/m/cls\"\n",
    )
    .unwrap();
    let m = |name: &str| c.runtime.models.iter().find(|m| m.name == name).unwrap();
    assert_eq!(m("sd").task, LocalTask::TextToImage);
    assert_eq!((m("sd").steps, m("sd").guidance), (Some(4), Some(0.0)));
    // images are metered in steps × 512² tiles (≈ Workers AI's image models), rerankers per
    // document
    assert_eq!(m("sd").units_per_1k_input, 4800.0);
    assert_eq!(m("rr").task, LocalTask::Rerank);
    assert_eq!(m("cls").task, LocalTask::TextClassification);
    let e =
        error("[[models]]\nname = \"sd\"\ntask = \"text-to-image\"\nsource = \"/m\"\nsteps = 0\n");
    assert!(e.contains("`steps` must be at least 1"), "{e}");
    let e = error(
        "[[models]]\nname = \"sd\"\ntask = \"text-to-image\"\nsource = \"/m\"\nguidance = -1\n",
    );
    assert!(
        e.contains("`guidance` must be a non-negative number"),
        "{e}"
    );
    let e = error("[[models]]\nname = \"x\"\ntask = \"painting\"\nsource = \"/m\"\n");
    assert!(e.contains("text-to-image"), "{e}");
}
