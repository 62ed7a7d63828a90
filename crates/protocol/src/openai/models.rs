//! `GET /v1/models`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub owned_by: String,
}

impl ModelList {
    pub fn new(data: Vec<ModelEntry>) -> Self {
        ModelList {
            object: "list".to_owned(),
            data,
        }
    }
}

impl ModelEntry {
    pub fn new(id: impl Into<String>, owned_by: impl Into<String>) -> Self {
        ModelEntry {
            id: id.into(),
            object: "model".to_owned(),
            created: 0,
            owned_by: owned_by.into(),
        }
    }
}
