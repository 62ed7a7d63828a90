//! The complexity score: k nearest labelled prompts by cosine similarity of local embeddings,
//! each weighing how much the frontier answer beat the local one. Trained by
//! `switchyard router train` (embeddings + labels saved as JSON), read at start-up.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classifier {
    /// The embedding model the vectors came from (prompts must be embedded with the same one).
    pub embedder: String,
    pub k: usize,
    /// Unit vectors, one per labelled prompt.
    pub vectors: Vec<Vec<f32>>,
    /// How much escalating helped on each: max(0, strong − weak), in 0..1.
    pub gain: Vec<f32>,
    /// Present when the vectors are static (IDF-weighted mean token embeddings of the embedder,
    /// see `switchyard_runtime::embed::StaticEmbedder`): the document frequencies they used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_idf: Option<Idf>,
}

/// Inverse document frequencies over the training prompts' tokens: frequent tokens ("the",
/// "Answer") weigh little, rare ones (a subject's terms) much.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Idf {
    pub docs: u32,
    /// Token id → prompts it appears in.
    pub df: std::collections::HashMap<u32, u32>,
}

impl Idf {
    pub fn of(prompts: &[Vec<u32>]) -> Self {
        let mut df = std::collections::HashMap::new();
        for ids in prompts {
            let mut seen: Vec<u32> = ids.clone();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                *df.entry(t).or_insert(0u32) += 1;
            }
        }
        Idf {
            docs: prompts.len() as u32,
            df,
        }
    }

    pub fn weight(&self, token: u32) -> f32 {
        let df = self.df.get(&token).copied().unwrap_or(0);
        ((self.docs as f32 + 1.0) / (df as f32 + 1.0)).ln() + 1.0
    }
}

impl Classifier {
    /// 0 (the local answer is as good) … 1 (only the frontier answers well).
    pub fn score(&self, v: &[f32]) -> f64 {
        self.score_without(v, None)
    }

    /// The score with example `skip` left out (leave-one-out evaluation on the training set).
    pub fn score_without(&self, v: &[f32], skip: Option<usize>) -> f64 {
        let mut sims: Vec<(f32, f32)> = self
            .vectors
            .iter()
            .zip(&self.gain)
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, (x, g))| (crate::cache::semantic::index::dot(x, v), *g))
            .collect();
        let k = self.k.clamp(1, sims.len().max(1));
        if sims.is_empty() {
            return 0.0;
        }
        sims.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        let near = &sims[..k];
        // similarity-weighted, so a close neighbour counts more than a far one
        let (num, den) = near.iter().fold((0.0f64, 0.0f64), |(n, d), (s, g)| {
            let w = f64::from(s.max(0.0)) + 1e-6;
            (n + w * f64::from(*g), d + w)
        });
        num / den
    }

    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let c: Classifier =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if c.vectors.len() != c.gain.len() || c.vectors.is_empty() {
            return Err(format!("{}: no labelled vectors", path.display()));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_neighbours_decide() {
        let c = Classifier {
            embedder: "e".into(),
            k: 2,
            vectors: vec![
                vec![1.0, 0.0],
                vec![0.9, 0.436],
                vec![0.0, 1.0],
                vec![-1.0, 0.0],
            ],
            gain: vec![0.0, 0.0, 1.0, 1.0],
            static_idf: None,
        };
        assert!(c.score(&[1.0, 0.0]) < 0.01);
        assert!(c.score(&[0.0, 1.0]) > 0.3);
        assert!(c.score(&[-0.7, 0.7]) > 0.99);
    }

    #[test]
    fn rare_tokens_weigh_more() {
        let idf = Idf::of(&[vec![1, 2, 2], vec![1, 3], vec![1]]);
        assert_eq!(idf.docs, 3);
        assert!(
            (idf.weight(1) - 1.0).abs() < 1e-6,
            "in every prompt: ln(4/4) + 1"
        );
        assert!(idf.weight(2) > idf.weight(1));
        assert!(idf.weight(99) > idf.weight(2), "unseen: rarest");
    }
}
