//! A borrowed, one-pass view of a top-level JSON object, and a splicer that rewrites members in place.
//!
//! The gateway must read a handful of fields (`model`, `stream`, …) and rewrite one or two of them, but it
//! must forward everything else byte for byte — including fields it has never heard of. Deserialising into
//! a struct and serialising again would be slower and would lose unknown fields or reorder them. Instead we
//! let `serde_json` validate the whole document once while keeping each top-level member as a borrowed
//! [`RawValue`], and remember where in the buffer each value sits so it can be replaced by splicing.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Why a body could not be viewed as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not valid JSON at all.
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    /// Valid JSON whose top level is not an object.
    NotAnObject,
    /// The same top-level key appears twice; which one an upstream would honour is undefined.
    DuplicateKey(String),
    /// More top-level keys than [`MAX_KEYS`]: no API takes that many fields, and each costs work.
    TooManyKeys(usize),
}

/// The most top-level keys a body may have (API requests have a few dozen fields at most).
pub const MAX_KEYS: usize = 1024;

/// Below this many keys a linear scan finds duplicates faster than hashing.
const SCAN_KEYS: usize = 16;

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax {
                message,
                line,
                column,
            } => write!(
                f,
                "request body is not valid JSON: {message} (line {line}, column {column})"
            ),
            JsonError::NotAnObject => f.write_str("request body must be a JSON object"),
            JsonError::DuplicateKey(key) => {
                write!(f, "request body has the field `{key}` more than once")
            }
            JsonError::TooManyKeys(max) => {
                write!(f, "request body has more than {max} top-level fields")
            }
        }
    }
}

impl std::error::Error for JsonError {}

/// One top-level member: its key and its raw (still encoded) value.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub key: &'a str,
    pub value: &'a RawValue,
}

/// The top-level members of a JSON object, in document order, borrowed from the body.
#[derive(Debug)]
pub struct ObjectView<'a> {
    body: &'a [u8],
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> ObjectView<'a> {
    /// Validates `body` as JSON and collects its top-level members without copying values.
    pub fn parse(body: &'a [u8]) -> Result<Self, JsonError> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let too_many = std::cell::Cell::new(false);
        let members = de
            .deserialize_any(MembersVisitor {
                too_many: &too_many,
            })
            .map_err(|e| match too_many.get() {
                true => JsonError::TooManyKeys(MAX_KEYS),
                false => syntax_or_shape(&e),
            })?;
        de.end().map_err(|e| syntax_or_shape(&e))?;
        let members = members.ok_or(JsonError::NotAnObject)?;
        if let Some(key) = first_duplicate(&members) {
            return Err(JsonError::DuplicateKey(key.to_owned()));
        }
        Ok(ObjectView { body, members })
    }

    /// The raw value of a top-level member, if present.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| *value)
    }

    /// Iterates over all members in document order.
    pub fn members(&self) -> impl Iterator<Item = Member<'_>> {
        self.members.iter().map(|(key, value)| Member {
            key: key.as_ref(),
            value,
        })
    }

    /// The byte range of a member's value within the body the view was parsed from.
    pub fn span_of(&self, value: &RawValue) -> std::ops::Range<usize> {
        let start = value.get().as_ptr() as usize - self.body.as_ptr() as usize;
        start..start + value.get().len()
    }

    /// The body the view was parsed from.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

/// The first key that appears twice: a scan for the few keys of a usual request, a set (linear
/// time) for more.
fn first_duplicate<'m>(members: &'m Members<'_>) -> Option<&'m str> {
    if members.len() <= SCAN_KEYS {
        return members
            .iter()
            .enumerate()
            .find(|(i, (key, _))| members[..*i].iter().any(|(k, _)| k == key))
            .map(|(_, (key, _))| key.as_ref());
    }
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    members
        .iter()
        .map(|(key, _)| key.as_ref())
        .find(|key| !seen.insert(*key))
}

fn syntax_or_shape(e: &serde_json::Error) -> JsonError {
    if e.classify() == serde_json::error::Category::Data {
        return JsonError::NotAnObject;
    }
    let full = e.to_string();
    // serde_json appends " at line L column C"; we report the position separately.
    let message = match full.rfind(" at line ") {
        Some(at) => full[..at].to_string(),
        None => full,
    };
    JsonError::Syntax {
        message,
        line: e.line(),
        column: e.column(),
    }
}

/// `Some(members)` for an object, `None` for any other JSON value; stops (and sets `too_many`)
/// past [`MAX_KEYS`] members.
struct MembersVisitor<'c> {
    too_many: &'c std::cell::Cell<bool>,
}

type Members<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

impl<'de> Visitor<'de> for MembersVisitor<'_> {
    type Value = Option<Members<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if members.len() == MAX_KEYS {
                self.too_many.set(true);
                return Err(de::Error::custom("too many top-level fields"));
            }
            let value: &'de RawValue = map.next_value()?;
            members.push((key, value));
        }
        Ok(Some(members))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A key that borrows from the input unless it contains escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The JSON type of a raw value, read from its first byte (the value is already validated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    pub fn of(value: &RawValue) -> JsonType {
        match value.get().as_bytes().first() {
            Some(b'n') => JsonType::Null,
            Some(b't' | b'f') => JsonType::Bool,
            Some(b'"') => JsonType::String,
            Some(b'[') => JsonType::Array,
            Some(b'{') => JsonType::Object,
            _ => JsonType::Number,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Bool => "a boolean",
            JsonType::Number => "a number",
            JsonType::String => "a string",
            JsonType::Array => "an array",
            JsonType::Object => "an object",
        }
    }
}

/// True when a raw number has no fraction or exponent.
pub fn is_integer(value: &RawValue) -> bool {
    JsonType::of(value) == JsonType::Number && !value.get().contains(['.', 'e', 'E'])
}

/// Decodes a raw JSON string, borrowing when it has no escapes.
pub fn as_str(value: &RawValue) -> Option<Cow<'_, str>> {
    let s = value.get();
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(s).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// Rewrites an object's bytes: replaces some member values and appends new members, copying the rest
/// verbatim. Edits must not overlap.
#[derive(Debug)]
pub struct Splicer<'a> {
    body: &'a [u8],
    replacements: Vec<(std::ops::Range<usize>, Vec<u8>)>,
    appended: Vec<u8>,
}

impl<'a> Splicer<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        Splicer {
            body,
            replacements: Vec::new(),
            appended: Vec::new(),
        }
    }

    /// Replaces the bytes in `span` (a member's value, from [`ObjectView::span_of`]) with `json`.
    pub fn replace(&mut self, span: std::ops::Range<usize>, json: Vec<u8>) -> &mut Self {
        self.replacements.push((span, json));
        self
    }

    /// Appends `"key": json` as a new member at the end of the object.
    pub fn append(&mut self, key: &str, json: &[u8]) -> &mut Self {
        self.appended.push(b',');
        push_json_string(&mut self.appended, key);
        self.appended.push(b':');
        self.appended.extend_from_slice(json);
        self
    }

    /// True when nothing would change.
    pub fn is_noop(&self) -> bool {
        self.replacements.is_empty() && self.appended.is_empty()
    }

    /// Produces the edited document.
    pub fn finish(mut self) -> Vec<u8> {
        self.replacements.sort_by_key(|(span, _)| span.start);
        let extra: usize = self
            .replacements
            .iter()
            .map(|(_, b)| b.len())
            .sum::<usize>()
            + self.appended.len();
        let mut out = Vec::with_capacity(self.body.len() + extra);
        let mut cursor = 0;
        for (span, bytes) in &self.replacements {
            out.extend_from_slice(&self.body[cursor..span.start]);
            out.extend_from_slice(bytes);
            cursor = span.end;
        }
        if self.appended.is_empty() {
            out.extend_from_slice(&self.body[cursor..]);
            return out;
        }
        // The view guarantees a top-level object, so the last non-whitespace byte is its `}`.
        let close = self.body[cursor..]
            .iter()
            .rposition(|b| *b == b'}')
            .map_or(self.body.len(), |p| cursor + p);
        out.extend_from_slice(&self.body[cursor..close]);
        let empty_object = self.body[..close]
            .iter()
            .rev()
            .find(|b| !b.is_ascii_whitespace())
            == Some(&b'{');
        let appended = if empty_object {
            &self.appended[1..]
        } else {
            &self.appended[..]
        };
        out.extend_from_slice(appended);
        out.extend_from_slice(&self.body[close..]);
        out
    }
}

/// Appends `s` as a JSON string literal.
pub fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests;
