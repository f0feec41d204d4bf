//! Reading provider JSON field by field, collecting every problem with its JSON path, so a refusal
//! names all the bad fields at once.

use serde_json::Value;

use super::{FieldError, RawRequest, Rejection};

/// The request body as JSON, refusing other content types (415) and malformed JSON (422).
pub(crate) fn json_body(request: &RawRequest<'_>) -> Result<Value, Rejection> {
    let content_type = request.content_type();
    if content_type != "application/json" {
        return Err(Rejection::UnsupportedMediaType(content_type));
    }
    serde_json::from_slice(request.body).map_err(|e| Rejection::invalid("$", format!("not valid JSON: {e}")))
}

/// A string (or number) at `path`; `None` when absent, null or blank. Other types are an error.
pub(crate) fn text(value: Option<&Value>, path: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_string),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            errors.push(FieldError::new(path, "must be a string"));
            None
        }
    }
}

/// Like [`text`], but absence is an error too.
pub(crate) fn required(value: Option<&Value>, path: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let before = errors.len();
    let found = text(value, path, errors);
    if found.is_none() && errors.len() == before {
        errors.push(FieldError::new(path, "required"));
    }
    found
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_text_and_names_every_bad_field() {
        let v = json!({"a": " x ", "n": 42, "blank": " ", "arr": [1]});
        let mut errors = Vec::new();
        assert_eq!(text(v.get("a"), "a", &mut errors).as_deref(), Some("x"));
        assert_eq!(text(v.get("n"), "n", &mut errors).as_deref(), Some("42"));
        assert_eq!(text(v.get("blank"), "blank", &mut errors), None);
        assert_eq!(text(v.get("arr"), "arr", &mut errors), None);
        assert_eq!(required(v.get("missing"), "missing", &mut errors), None);
        assert_eq!(required(v.get("arr"), "arr", &mut errors), None);
        let named: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.message.as_str())).collect();
        assert_eq!(
            named,
            [("arr", "must be a string"), ("missing", "required"), ("arr", "must be a string")]
        );
    }
}
