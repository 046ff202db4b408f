//! JSON Schemas from `schemars`, gathered into one document's components: one
//! generator for what the server takes (params, in their deserialize contract) and
//! one for what it sends (results and items, in their serialize contract), merged at
//! the end.

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use super::document::{ErrorDoc, Info, MethodDoc};
use super::{DeclaredErrors, OPENRPC_VERSION};

/// Where the shared definitions go: OpenRPC's components.
const DEFINITIONS: &str = "/components/schemas";
const REF_PREFIX: &str = "#/components/schemas/";

/// Gathers a service's description: its info, its methods, and the schemas they
/// share. [`crate::service::Service::describe`] fills it.
pub struct Describer {
    taken: SchemaGenerator,
    sent: SchemaGenerator,
    info: Option<Info>,
    methods: Vec<MethodDoc>,
}

impl Default for Describer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Describer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Describer")
            .field("info", &self.info)
            .field("methods", &self.methods.len())
            .finish_non_exhaustive()
    }
}

fn settings() -> SchemaSettings {
    SchemaSettings::draft07().with(|s| {
        s.definitions_path = DEFINITIONS.into();
        s.meta_schema = None;
    })
}

impl Describer {
    /// Nothing described yet.
    pub fn new() -> Self {
        Describer {
            taken: settings().for_deserialize().into_generator(),
            sent: settings().for_serialize().into_generator(),
            info: None,
            methods: Vec::new(),
        }
    }

    /// The generator for what the server takes (params): the deserialize contract.
    pub fn params(&mut self) -> &mut SchemaGenerator {
        &mut self.taken
    }

    /// The generator for what the server sends (results, items): the serialize
    /// contract.
    pub fn results(&mut self) -> &mut SchemaGenerator {
        &mut self.sent
    }

    /// The schema of `T` as params take it.
    pub fn param_schema<T: JsonSchema + ?Sized>(&mut self) -> Value {
        schema_in::<T>(&mut self.taken)
    }

    /// The schema of `T` as a result sends it.
    pub fn result_schema<T: JsonSchema + ?Sized>(&mut self) -> Value {
        schema_in::<T>(&mut self.sent)
    }

    /// The service's info; the first given is kept (composed services: the first
    /// service's).
    pub fn info(&mut self, info: Info) {
        if self.info.is_none() {
            self.info = Some(info);
        }
    }

    /// One more method.
    pub fn method(&mut self, method: MethodDoc) {
        self.methods.push(method);
    }

    /// Whether no method has been described.
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
    }

    /// The document.
    pub fn into_document(mut self) -> Value {
        let mut schemas = self.taken.take_definitions(true);
        let sent = self.sent.take_definitions(true);
        // A type described both ways, differently (a field skipped when serializing,
        // a default when deserializing): the sent one gets a name of its own, and
        // the references to it follow.
        let mut renamed = HashMap::new();
        let mut sent_kept = Vec::new();
        for (name, schema) in sent {
            match schemas.get(&name) {
                Some(same) if *same == schema => {}
                Some(_) => {
                    let mut fresh = format!("{name}Output");
                    let mut n = 2;
                    while schemas.contains_key(&fresh) || renamed.values().any(|v| *v == fresh) {
                        fresh = format!("{name}Output{n}");
                        n += 1;
                    }
                    renamed.insert(name, fresh.clone());
                    sent_kept.push((fresh, schema));
                }
                None => sent_kept.push((name, schema)),
            }
        }
        for (name, mut schema) in sent_kept {
            rename_refs(&mut schema, &renamed);
            schemas.insert(name, schema);
        }
        for method in &mut self.methods {
            for schema in method.sent_schemas_mut() {
                rename_refs(schema, &renamed);
            }
        }
        let info = self
            .info
            .unwrap_or_else(|| Info::new("JSON-RPC service", "0.0.0"));
        let mut names = HashSet::new();
        let methods: Vec<Value> = self
            .methods
            .iter()
            .filter(|m| names.insert(m.name.clone()))
            .map(MethodDoc::to_value)
            .collect();
        let mut document = json!({
            "openrpc": OPENRPC_VERSION,
            "info": info.to_value(),
            "methods": methods,
        });
        if !schemas.is_empty() {
            document["components"] = json!({ "schemas": Value::Object(sort(schemas)) });
        }
        document
    }
}

/// Definitions in name order, so that a document reads the same every time.
fn sort(map: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

/// Points the `$ref`s of `schema` at the new names of renamed definitions.
fn rename_refs(schema: &mut Value, renamed: &HashMap<String, String>) {
    if renamed.is_empty() {
        return;
    }
    match schema {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "$ref" {
                    if let Some(target) = value.as_str().and_then(|r| r.strip_prefix(REF_PREFIX)) {
                        if let Some(new) = renamed.get(target) {
                            *value = json!(format!("{REF_PREFIX}{new}"));
                        }
                    }
                } else {
                    rename_refs(value, renamed);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renamed)),
        _ => {}
    }
}

/// `T`'s schema (a `$ref` to its definition for a named type), with the
/// generator's draft-07 transforms applied.
fn schema_in<T: JsonSchema + ?Sized>(generator: &mut SchemaGenerator) -> Value {
    let mut schema = generator.subschema_for::<T>();
    for transform in generator.transforms_mut() {
        transform.transform(&mut schema);
    }
    schema.to_value()
}

/// Stands for the type `T` in generated code, to ask for its schema whether or not
/// it implements `JsonSchema`: `(&SchemaOf::<T>::new()).schema_in(generator)` finds
/// [`ViaJsonSchema`] when it does, [`ViaAnySchema`] when it does not.
#[allow(missing_debug_implementations)]
pub struct SchemaOf<T: ?Sized>(PhantomData<fn() -> Box<T>>);

impl<T: ?Sized> SchemaOf<T> {
    /// The stand-in.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        SchemaOf(PhantomData)
    }
}

/// The schema of a type that implements `JsonSchema`.
pub trait ViaJsonSchema {
    /// The schema.
    fn schema_in(&self, generator: &mut SchemaGenerator) -> Value;
}

impl<T: JsonSchema + ?Sized> ViaJsonSchema for SchemaOf<T> {
    fn schema_in(&self, generator: &mut SchemaGenerator) -> Value {
        schema_in::<T>(generator)
    }
}

/// The schema of a type that does not implement `JsonSchema`: any value, with the
/// type's name.
pub trait ViaAnySchema {
    /// The schema.
    fn schema_in(&self, generator: &mut SchemaGenerator) -> Value;
}

impl<T: ?Sized> ViaAnySchema for &SchemaOf<T> {
    fn schema_in(&self, _: &mut SchemaGenerator) -> Value {
        json!({ "x-rust-type": std::any::type_name::<T>() })
    }
}

/// Stands for an error type in generated code, to ask for the errors it declares:
/// `(&ErrorsOf::<E>::new()).declared()`.
#[allow(missing_debug_implementations)]
pub struct ErrorsOf<E: ?Sized>(PhantomData<fn() -> Box<E>>);

impl<E: ?Sized> ErrorsOf<E> {
    /// The stand-in.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        ErrorsOf(PhantomData)
    }
}

/// The errors of a type that declares them.
pub trait ViaDeclaredErrors {
    /// The errors.
    fn declared(&self) -> Vec<ErrorDoc>;
}

impl<E: DeclaredErrors + ?Sized> ViaDeclaredErrors for ErrorsOf<E> {
    fn declared(&self) -> Vec<ErrorDoc> {
        E::declared_errors()
    }
}

/// No errors, for a type that declares none.
pub trait ViaNoErrors {
    /// None.
    fn declared(&self) -> Vec<ErrorDoc>;
}

impl<E: ?Sized> ViaNoErrors for &ErrorsOf<E> {
    fn declared(&self) -> Vec<ErrorDoc> {
        Vec::new()
    }
}
