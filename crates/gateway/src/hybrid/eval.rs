//! `switchyard router eval`: how a router's score trades quality for cost on labelled prompts.
//!
//! Each example has the quality of the weak (local) and the strong (frontier) answer in [0, 1]
//! (or only "weak is enough"). Prompts are sorted by the router's score (higher = escalate);
//! escalating the top share `s` gives quality = mean(strong on the escalated, weak on the rest),
//! and cost relative to sending everything to the frontier = s + (1 − s) × `weak_cost` (the weak
//! tier's cost per request as a fraction of the strong tier's). The sweep reports each step, the
//! cheapest step that keeps ≥ 95 % of all-frontier quality, and APGR (area under the performance
//! gap recovered, RouteLLM's metric).

use serde::{Deserialize, Serialize};

/// One labelled prompt.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Example {
    pub prompt: String,
    /// Quality of the weak answer, 0..1.
    #[serde(default, alias = "weak_quality")]
    pub weak: Option<f64>,
    /// Quality of the strong answer, 0..1.
    #[serde(default, alias = "strong_quality")]
    pub strong: Option<f64>,
    /// `true`: the weak answer is as good as the strong one; `false`: only the strong one is good.
    #[serde(default)]
    pub weak_is_enough: Option<bool>,
    /// RouteLLM's tables: correctness of each answer.
    #[serde(default)]
    pub weak_correct: Option<bool>,
    #[serde(default)]
    pub strong_correct: Option<bool>,
}

impl Example {
    /// (weak, strong) quality, if the line says.
    pub fn qualities(&self) -> Option<(f64, f64)> {
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        match (
            self.weak,
            self.strong,
            self.weak_is_enough,
            self.weak_correct,
            self.strong_correct,
        ) {
            (Some(w), Some(s), _, _, _) => Some((w, s)),
            (_, _, Some(enough), _, _) => Some((b(enough), 1.0)),
            (_, _, _, Some(w), Some(s)) => Some((b(w), b(s))),
            _ => None,
        }
    }
}

/// One point of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Escalate prompts scoring at or above this (`None` at 0 % escalated).
    pub threshold: Option<f64>,
    pub escalated: f64,
    pub quality: f64,
    /// `quality` / all-frontier quality.
    pub retained: f64,
    /// Cost relative to all-frontier.
    pub cost: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub examples: usize,
    pub weak_quality: f64,
    pub strong_quality: f64,
    pub steps: Vec<Step>,
    /// The cheapest step keeping ≥ `target` of all-frontier quality.
    pub chosen: Option<Step>,
    pub target: f64,
    /// Area under PGR over the share escalated (random routing ≈ 0.5).
    pub apgr: f64,
}

/// `scored`: (router score, weak quality, strong quality) per example. `steps`: how many equal
/// shares to sweep (10 → 0 %, 10 %, … 100 %).
pub fn evaluate(scored: &[(f64, f64, f64)], steps: usize, weak_cost: f64, target: f64) -> Report {
    let n = scored.len();
    let mut order: Vec<&(f64, f64, f64)> = scored.iter().collect();
    // highest score first; ties keep file order (stable)
    order.sort_by(|a, b| b.0.total_cmp(&a.0));
    let total = |f: fn(&(f64, f64, f64)) -> f64| scored.iter().map(f).sum::<f64>();
    let weak_sum = total(|e| e.1);
    let strong_sum = total(|e| e.2);
    let per = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };
    let (weak_q, strong_q) = (per(weak_sum), per(strong_sum));
    let steps = steps.max(1);
    let mut out = Vec::with_capacity(steps + 1);
    let mut pgr = Vec::with_capacity(steps + 1);
    for i in 0..=steps {
        let k = (n * i + steps / 2) / steps;
        let up: f64 = order[..k].iter().map(|e| e.2).sum();
        let down: f64 = order[k..].iter().map(|e| e.1).sum();
        let quality = per(up + down);
        let escalated = per(k as f64);
        out.push(Step {
            threshold: (k > 0).then(|| order[k - 1].0),
            escalated,
            quality,
            retained: if strong_q > 0.0 {
                quality / strong_q
            } else {
                1.0
            },
            cost: escalated + (1.0 - escalated) * weak_cost,
        });
        let gap = strong_q - weak_q;
        pgr.push(if gap.abs() < f64::EPSILON {
            1.0
        } else {
            (quality - weak_q) / gap
        });
    }
    // trapezoids over the equal steps
    let apgr = pgr.windows(2).map(|w| (w[0] + w[1]) / 2.0).sum::<f64>() / steps as f64;
    let chosen = out
        .iter()
        .filter(|s| s.retained >= target - 1e-12)
        .min_by(|a, b| a.cost.total_cmp(&b.cost))
        .cloned();
    Report {
        examples: n,
        weak_quality: weak_q,
        strong_quality: strong_q,
        steps: out,
        chosen,
        target,
        apgr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_computed_sweep() {
        // scores 4 > 3 > 2 > 1; the two hard prompts score highest
        let scored = [
            (1.0, 1.0, 1.0),
            (4.0, 0.0, 1.0),
            (2.0, 1.0, 1.0),
            (3.0, 0.0, 0.5),
        ];
        let r = evaluate(&scored, 4, 0.1, 0.95);
        assert_eq!(r.weak_quality, 0.5);
        assert_eq!(r.strong_quality, 0.875);
        let q: Vec<f64> = r.steps.iter().map(|s| s.quality).collect();
        // 0 escalated: 1+0+1+0 = 2/4; top 1 (score 4): 1+0+1+1 = 3/4; top 2: 3.5/4; …
        assert_eq!(q, [0.5, 0.75, 0.875, 0.875, 0.875]);
        let cost: Vec<f64> = r
            .steps
            .iter()
            .map(|s| (s.cost * 1000.0).round() / 1000.0)
            .collect();
        assert_eq!(cost, [0.1, 0.325, 0.55, 0.775, 1.0]);
        // ≥ 95 % of 0.875 first reached with the top two escalated, at 55 % of the cost
        let chosen = r.chosen.unwrap();
        assert_eq!((chosen.escalated, chosen.threshold), (0.5, Some(3.0)));
        // PGR: 0, 2/3, 1, 1, 1 → trapezoids (1/3 + 5/6 + 1 + 1) / 4
        assert!((r.apgr - (1.0 / 3.0 + 5.0 / 6.0 + 1.0 + 1.0) / 4.0).abs() < 1e-12);
    }

    #[test]
    fn label_shapes() {
        let e: Example = serde_json::from_str(r#"{"prompt":"p","weak_is_enough":false}"#).unwrap();
        assert_eq!(e.qualities(), Some((0.0, 1.0)));
        let e: Example =
            serde_json::from_str(r#"{"prompt":"p","weak_correct":true,"strong_correct":false}"#)
                .unwrap();
        assert_eq!(e.qualities(), Some((1.0, 0.0)));
        let e: Example = serde_json::from_str(r#"{"prompt":"p","weak":0.3,"strong":0.9}"#).unwrap();
        assert_eq!(e.qualities(), Some((0.3, 0.9)));
    }
}
