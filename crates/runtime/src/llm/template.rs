//! Chat templates: the GGUF's `tokenizer.chat_template` (a Jinja template, as Hugging Face
//! writes them) rendered with minijinja, with the Python string methods those templates use.

use minijinja::{Environment, Error, ErrorKind, Value};

use crate::task::Message;
use crate::RuntimeError;

/// A compiled chat template and the special tokens it may print.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

/// Used when a model ships no template: ChatML, which most small instruct models were tuned on.
const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

impl ChatTemplate {
    /// `source`: the template text (`None` = ChatML).
    pub fn new(source: Option<String>, bos: String, eos: String) -> Result<Self, RuntimeError> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        let source = source.unwrap_or_else(|| CHATML.to_owned());
        env.add_template_owned("chat", source).map_err(|e| {
            RuntimeError::load(format!("the model's chat template does not parse: {e}"))
        })?;
        Ok(ChatTemplate { env, bos, eos })
    }

    /// The prompt text for `messages`, ending with the assistant's turn opened.
    pub fn render(
        &self,
        messages: &[Message],
        tools: &[serde_json::Value],
    ) -> Result<String, RuntimeError> {
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| RuntimeError::engine(e.to_string()))?;
        let tools = if tools.is_empty() {
            Value::UNDEFINED
        } else {
            Value::from(minijinja::value::Serde(tools))
        };
        template
            .render(minijinja::context! {
                messages => Value::from(minijinja::value::Serde(messages)),
                tools => tools,
                add_generation_prompt => true,
                bos_token => self.bos.as_str(),
                eos_token => self.eos.as_str(),
            })
            .map_err(|e| {
                RuntimeError::invalid(
                    "messages",
                    format!("the model's chat template refused these messages: {e}"),
                )
            })
    }
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `strftime_now(fmt)` (Llama 3.x templates print today's date); only the formats those use.
fn strftime_now(format: String) -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month = MONTHS[(m as usize).saturating_sub(1) % 12];
    format
        .replace("%d", &format!("{d:02}"))
        .replace("%m", &format!("{m:02}"))
        .replace("%Y", &y.to_string())
        .replace("%B", month)
        .replace("%b", &month[..3])
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
            tool_calls: None,
            tool_call_id: None,
        }
    }

    #[test]
    fn chatml_when_the_model_has_none() {
        let t = ChatTemplate::new(None, String::new(), String::new()).unwrap();
        let out = t.render(&[msg("user", "Hi")], &[]).unwrap();
        assert_eq!(
            out,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_methods_and_raise_exception() {
        let src = "{% for m in messages %}{% if m.role not in ['user','assistant'] %}{{ raise_exception('bad role ' + m.role) }}{% endif %}{{ bos_token }}{{ m.content.strip() | upper }}{% endfor %}";
        let t = ChatTemplate::new(Some(src.into()), "<s>".into(), "</s>".into()).unwrap();
        assert_eq!(t.render(&[msg("user", "  hi ")], &[]).unwrap(), "<s>HI");
        let err = t.render(&[msg("robot", "x")], &[]).unwrap_err();
        assert!(err.message.contains("bad role robot"), "{err}");
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
    }
}
