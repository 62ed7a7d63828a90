//! [`RuntimeError`]: what can go wrong with a local model, with the HTTP status it maps to.

use thiserror::Error;

/// Why a local request failed. Each kind has one HTTP status (see [`RuntimeError::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong (bad parameter, prompt longer than the context, bad schema): 400.
    Invalid,
    /// No local model by that name: 404.
    UnknownModel,
    /// The model's queue is full (Workers AI's `rejectIfBusy`): 429.
    Busy,
    /// The model could not be loaded (missing file, unsupported architecture): 503.
    Load,
    /// The engine failed while running the request: 500.
    Engine,
}

#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct RuntimeError {
    pub kind: ErrorKind,
    pub message: String,
    /// The request parameter at fault, if one is (OpenAI's `param`).
    pub param: Option<&'static str>,
}

impl RuntimeError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RuntimeError {
            kind,
            message: message.into(),
            param: None,
        }
    }

    pub fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        RuntimeError {
            kind: ErrorKind::Invalid,
            message: message.into(),
            param: Some(param),
        }
    }

    pub fn engine(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Engine, message)
    }

    pub fn load(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Load, message)
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::Invalid => 400,
            ErrorKind::UnknownModel => 404,
            ErrorKind::Busy => 429,
            ErrorKind::Load => 503,
            ErrorKind::Engine => 500,
        }
    }

    /// OpenAI's error `type` for it.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ErrorKind::Invalid => "invalid_request_error",
            ErrorKind::UnknownModel => "not_found_error",
            ErrorKind::Busy => "rate_limit_error",
            ErrorKind::Load | ErrorKind::Engine => "server_error",
        }
    }

    /// The OpenAI-dialect error body.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": {
            "message": self.message,
            "type": self.type_name(),
            "param": self.param,
            "code": match self.kind {
                ErrorKind::Invalid => "invalid_request",
                ErrorKind::UnknownModel => "model_not_found",
                ErrorKind::Busy => "model_busy",
                ErrorKind::Load => "model_unavailable",
                ErrorKind::Engine => "engine_error",
            },
        }})
    }
}
