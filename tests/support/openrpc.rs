//! Checks shared by the OpenRPC tests.

#![allow(dead_code)]

use serde_json::Value;

/// Every `$ref` in `document` points at a definition it holds.
pub fn assert_refs_resolve(document: &Value) {
    fn walk(value: &Value, document: &Value, path: &str) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    if key == "$ref" {
                        let target = inner.as_str().expect("a $ref is a string");
                        let pointer = target
                            .strip_prefix('#')
                            .unwrap_or_else(|| panic!("{path}: {target} is not a local reference"));
                        assert!(
                            document.pointer(pointer).is_some(),
                            "{path}: {target} does not resolve"
                        );
                    } else {
                        walk(inner, document, &format!("{path}/{key}"));
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, document, &format!("{path}/{i}"));
                }
            }
            _ => {}
        }
    }
    walk(document, document, "");
}
