//! `POST /v1/audio/transcriptions`: a `multipart/form-data` body (the audio `file`, `model`,
//! `response_format`, `language`, `prompt`, `temperature`, …) read without copying, and its
//! `model` rewritten in place for the provider. The boundary is the body's own first line, so
//! the body alone says how to read it.

use std::ops::Range;

use super::RequestError;
use crate::json::Splicer;

fn invalid(param: &str, message: impl Into<String>) -> RequestError {
    RequestError {
        message: message.into(),
        param: (!param.is_empty()).then(|| param.to_owned()),
        code: "invalid_value",
    }
}

/// One form field.
#[derive(Debug, Clone)]
pub struct FormPart<'a> {
    pub name: &'a str,
    pub filename: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// Where its value is in the body.
    pub span: Range<usize>,
}

/// A transcription request, parsed.
#[derive(Debug)]
pub struct TranscriptionRequest<'a> {
    body: &'a [u8],
    parts: Vec<FormPart<'a>>,
    model: usize,
    file: usize,
}

/// `key="value"` in a `Content-Disposition` header.
fn disposition_param<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"'))
    })
}

fn parts(body: &[u8]) -> Result<Vec<FormPart<'_>>, RequestError> {
    let not_form = || {
        invalid(
            "",
            "the body must be multipart/form-data (with `file` and `model` fields)",
        )
    };
    let line_end = memchr::memmem::find(body, b"\r\n").ok_or_else(not_form)?;
    let boundary = body[..line_end].strip_prefix(b"--").ok_or_else(not_form)?;
    if boundary.is_empty() || boundary.len() > 200 {
        return Err(not_form());
    }
    let mut delimiter = b"\r\n--".to_vec();
    delimiter.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&delimiter);
    let mut out = Vec::new();
    let mut at = line_end + 2;
    loop {
        let head_end = memchr::memmem::find(&body[at..], b"\r\n\r\n")
            .map(|i| at + i)
            .ok_or_else(|| invalid("", "a form part has no end to its headers"))?;
        let head = std::str::from_utf8(&body[at..head_end])
            .map_err(|_| invalid("", "form part headers must be UTF-8"))?;
        let start = head_end + 4;
        let end = finder
            .find(&body[start..])
            .map(|i| start + i)
            .ok_or_else(|| invalid("", "the form ends without its closing boundary"))?;
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                name = disposition_param(value, "name");
                filename = disposition_param(value, "filename");
            } else if key.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim());
            }
        }
        let name = name.ok_or_else(|| invalid("", "a form part has no name"))?;
        out.push(FormPart {
            name,
            filename,
            content_type,
            span: start..end,
        });
        at = end + delimiter.len();
        match body.get(at..at + 2) {
            Some(b"--") => return Ok(out),
            Some(b"\r\n") => at += 2,
            _ => return Err(invalid("", "the form's boundary is malformed")),
        }
    }
}

impl<'a> TranscriptionRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        let parts = parts(body)?;
        let position = |name: &str| parts.iter().position(|p| p.name == name);
        let model = position("model").ok_or_else(|| invalid("model", "`model` is required"))?;
        let file =
            position("file").ok_or_else(|| invalid("file", "`file` (the audio) is required"))?;
        let request = TranscriptionRequest {
            body,
            parts,
            model,
            file,
        };
        if request.model().is_empty() {
            return Err(invalid("model", "`model` must not be empty"));
        }
        if request.audio().is_empty() {
            return Err(invalid("file", "the audio file is empty"));
        }
        Ok(request)
    }

    /// A text field's value (`None` when absent or not UTF-8).
    pub fn field(&self, name: &str) -> Option<&'a str> {
        let part = self.parts.iter().find(|p| p.name == name)?;
        std::str::from_utf8(&self.body[part.span.clone()])
            .ok()
            .map(str::trim)
    }

    /// Every value of a repeated text field (`timestamp_granularities[]`).
    pub fn fields<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.parts
            .iter()
            .filter(move |p| p.name == name)
            .filter_map(|p| std::str::from_utf8(&self.body[p.span.clone()]).ok())
            .map(str::trim)
    }

    pub fn model(&self) -> &'a str {
        std::str::from_utf8(&self.body[self.parts[self.model].span.clone()])
            .map(str::trim)
            .unwrap_or("")
    }

    /// `stream=true` (the streaming transcription models).
    pub fn stream(&self) -> bool {
        self.field("stream") == Some("true")
    }

    pub fn audio(&self) -> &'a [u8] {
        &self.body[self.parts[self.file].span.clone()]
    }

    /// What the upload says its format is: the file name's extension, else its content type.
    pub fn audio_format(&self) -> Option<&'a str> {
        let part = &self.parts[self.file];
        part.filename
            .and_then(|f| f.rsplit_once('.').map(|(_, ext)| ext))
            .or(part.content_type)
    }

    /// The body with `model` set to `upstream_model`.
    pub fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        let mut splicer = Splicer::new(self.body);
        if self.model() != upstream_model {
            splicer.replace(
                self.parts[self.model].span.clone(),
                upstream_model.as_bytes().to_vec(),
            );
        }
        splicer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, filename, value) in fields {
            out.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
            out.extend_from_slice(name.as_bytes());
            out.push(b'"');
            if let Some(f) = filename {
                out.extend_from_slice(
                    format!("; filename=\"{f}\"\r\nContent-Type: audio/wav").as_bytes(),
                );
            }
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ--\r\n");
        out
    }

    #[test]
    fn reads_the_fields_and_rewrites_the_model_in_place() {
        let audio: &[u8] = b"RIFF\r\n--Xy binary \0\xff";
        let body = form(&[
            ("model", None, b"whisper"),
            ("file", Some("talk.WAV"), audio),
            ("response_format", None, b"text"),
        ]);
        let r = TranscriptionRequest::parse(&body).unwrap();
        assert_eq!(r.model(), "whisper");
        assert_eq!(r.audio(), audio);
        assert_eq!(r.audio_format(), Some("WAV"));
        assert_eq!(r.field("response_format"), Some("text"));
        assert!(!r.stream());
        let rewritten = r.rewrite("whisper-1").finish();
        let again = TranscriptionRequest::parse(&rewritten).unwrap();
        assert_eq!(again.model(), "whisper-1");
        assert_eq!(again.audio(), audio);
        assert!(r.rewrite("whisper").is_noop());
    }

    #[test]
    fn what_is_not_a_transcription_form_is_refused_by_name() {
        let e = TranscriptionRequest::parse(b"{\"model\":\"m\"}").unwrap_err();
        assert!(e.message.contains("multipart/form-data"), "{e}");
        let e = TranscriptionRequest::parse(&form(&[("file", Some("a.wav"), b"x")])).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
        let e = TranscriptionRequest::parse(&form(&[("model", None, b"m")])).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("file"));
        let e = TranscriptionRequest::parse(&form(&[
            ("model", None, b"m"),
            ("file", Some("a.wav"), b""),
        ]))
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("file"));
        // cut anywhere: refused, never read past the end
        let body = form(&[("model", None, b"whisper"), ("file", Some("a.wav"), b"abc")]);
        for cut in 0..body.len() - 4 {
            assert!(
                TranscriptionRequest::parse(&body[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }
}
