//! Whisper's language codes and the English names OpenAI's API answers with
//! (`verbose_json`'s `language`), for the languages people most often send; other codes answer
//! as their code.

const NAMES: &[(&str, &str)] = &[
    ("en", "english"),
    ("zh", "chinese"),
    ("de", "german"),
    ("es", "spanish"),
    ("ru", "russian"),
    ("ko", "korean"),
    ("fr", "french"),
    ("ja", "japanese"),
    ("pt", "portuguese"),
    ("tr", "turkish"),
    ("pl", "polish"),
    ("ca", "catalan"),
    ("nl", "dutch"),
    ("ar", "arabic"),
    ("sv", "swedish"),
    ("it", "italian"),
    ("id", "indonesian"),
    ("hi", "hindi"),
    ("fi", "finnish"),
    ("vi", "vietnamese"),
    ("he", "hebrew"),
    ("uk", "ukrainian"),
    ("el", "greek"),
    ("ms", "malay"),
    ("cs", "czech"),
    ("ro", "romanian"),
    ("da", "danish"),
    ("hu", "hungarian"),
    ("ta", "tamil"),
    ("no", "norwegian"),
    ("th", "thai"),
    ("ur", "urdu"),
    ("hr", "croatian"),
    ("bg", "bulgarian"),
    ("lt", "lithuanian"),
    ("la", "latin"),
    ("cy", "welsh"),
    ("sk", "slovak"),
    ("fa", "persian"),
    ("lv", "latvian"),
    ("bn", "bengali"),
    ("sr", "serbian"),
    ("sl", "slovenian"),
    ("et", "estonian"),
    ("sw", "swahili"),
    ("af", "afrikaans"),
];

/// The English name of a language code (`es` → `spanish`), or the code itself.
pub fn name_of(code: &str) -> &str {
    NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, n)| n)
}

/// The code of a language name (`spanish` → `es`); `None` for codes and unknown names.
pub fn code_of(name: &str) -> Option<&'static str> {
    NAMES.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
}
