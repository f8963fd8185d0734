//! The generic checks every object gets from its table in `reference`: unknown fields (with a
//! suggestion), required fields, JSON types and formats.

use serde_json::{Map, Value};

use super::formats::is_go_duration;
use super::{Checker, child, either, shown};
use crate::api::v1alpha1::reference::{FieldDoc, ObjectDoc, Shape};

impl<'r> Checker<'r> {
    /// The checks every object gets from its table: unknown fields (sorted, so the order does
    /// not depend on the map), then each field in table order: required, JSON type, format.
    pub(super) fn check_object(&mut self, map: &Map<String, Value>, doc: &ObjectDoc, path: &str) {
        let mut unknown: Vec<&String> = map.keys().filter(|k| doc.field(k).is_none()).collect();
        unknown.sort();
        for key in unknown {
            let suggestion = closest_field(key, doc)
                .map(|name| format!("did you mean {name}? "))
                .unwrap_or_default();
            self.fail(
                child(path, key),
                format!(
                    "unknown field; {suggestion}{} fields are {}",
                    doc.title,
                    doc.field_list()
                ),
            );
        }
        for field in doc.fields {
            let field_path = child(path, field.name);
            match map.get(field.name) {
                None | Some(Value::Null) => {
                    if field.required {
                        self.fail(
                            field_path,
                            format!("required: {}", field.description.replace('`', "")),
                        );
                    }
                }
                Some(value) => self.check_shape(field, value, &field_path),
            }
        }
    }

    fn check_shape(&mut self, field: &FieldDoc, value: &Value, path: &str) {
        match (field.shape, value) {
            (Shape::String | Shape::Duration | Shape::OneOf(_), Value::String(s))
                if s.trim().is_empty() =>
            {
                self.fail(path, "must not be empty");
            }
            (Shape::String, Value::String(_)) => {}
            (Shape::Duration, Value::String(s)) => {
                if !is_go_duration(s) {
                    self.fail(
                        path,
                        format!("{s:?} is not a duration: use a number and a unit (h, m, s, ms, us, ns), like 1m, 30s, 1h30m, 1.5h or 500ms"),
                    );
                }
            }
            (Shape::OneOf(values), Value::String(s)) => {
                if !values.contains(&s.as_str()) {
                    self.fail(
                        path,
                        format!("{s:?} is not supported; use {}", either(values)),
                    );
                }
            }
            (Shape::String, _) => {
                self.fail(path, format!("must be a string, not {}", shown(value)))
            }
            (Shape::Duration, _) => self.fail(
                path,
                format!(
                    "must be a string with a duration like 1m or 30s, not {}",
                    shown(value)
                ),
            ),
            (Shape::OneOf(values), _) => self.fail(
                path,
                format!("must be a string, {}, not {}", either(values), shown(value)),
            ),
            (Shape::Bool, Value::Bool(_))
            | (Shape::Object, Value::Object(_))
            | (Shape::List, Value::Array(_)) => {}
            (Shape::Bool, _) => {
                self.fail(path, format!("must be true or false, not {}", shown(value)))
            }
            (Shape::Object, _) => {
                self.fail(path, format!("must be an object, not {}", shown(value)))
            }
            (Shape::List, _) => self.fail(path, format!("must be a list, not {}", shown(value))),
            (Shape::StringMap, Value::Object(map)) => {
                for (key, item) in map {
                    if !item.is_string() {
                        let hint = if item.is_number() || item.is_boolean() {
                            " (quote numbers and booleans)"
                        } else {
                            ""
                        };
                        self.fail(
                            child(path, key),
                            format!("must be a string, not {}{hint}", shown(item)),
                        );
                    }
                }
            }
            (Shape::StringMap, _) => self.fail(
                path,
                format!("must be a map of strings, not {}", shown(value)),
            ),
        }
    }
}

/// The field an unknown key was probably meant to be (a typo or wrong case).
fn closest_field(key: &str, doc: &ObjectDoc) -> Option<&'static str> {
    // Short keys are a few edits away from anything; allow fewer edits for them.
    let allowed = match key.chars().count() {
        0..=2 => return None,
        3..=5 => 1,
        _ => 2,
    };
    let key = key.to_lowercase();
    doc.fields
        .iter()
        .map(|f| (edit_distance(&key, &f.name.to_lowercase()), f.name))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or_default()
}
