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

/// A validator of OpenRPC 1.3 documents: the official meta-schema, vendored in
/// `tests/openrpc/` with the JSON Schema meta-schema it refers to (see its README),
/// so nothing is fetched.
pub fn meta_schema_validator() -> jsonschema::Validator {
    use jsonschema::{Draft, Registry};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openrpc");
    let load = |name: &str| -> Value {
        let path = dir.join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let openrpc = load("meta-schema.json");
    let json_schema = load("json-schema-tools-meta-schema.json");
    // The OpenRPC meta-schema refers to it with and without the trailing slash.
    let registry = Registry::new()
        .add(
            "https://meta.json-schema.tools/",
            Draft::Draft7.create_resource(json_schema.clone()),
        )
        .unwrap()
        .add(
            "https://meta.json-schema.tools",
            Draft::Draft7.create_resource(json_schema),
        )
        .unwrap()
        .prepare()
        .unwrap();
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .with_registry(&registry)
        .offline()
        .build(&openrpc)
        .expect("the OpenRPC meta-schema compiles")
}

/// `document` is a valid OpenRPC document whose every `$ref` resolves.
pub fn assert_valid(validator: &jsonschema::Validator, document: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not a valid OpenRPC document: {errors:#?}\n{document:#}"
    );
    assert_refs_resolve(document);
}
