//! The parts of an OpenRPC document that a service describes: its info and its
//! methods, each with content descriptors for params and result, and errors.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

/// The fields a content descriptor and a method object both start with.
fn named(name: &str, summary: Option<&str>, description: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    if let Some(summary) = summary {
        out.insert("summary".into(), json!(summary));
    }
    if let Some(description) = description {
        out.insert("description".into(), json!(description));
    }
    out
}

/// The document's `info`: what the service is called and its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// The service's title.
    pub title: Cow<'static, str>,
    /// The service's version (of the API, not of OpenRPC).
    pub version: Cow<'static, str>,
    /// A longer description.
    pub description: Option<Cow<'static, str>>,
}

impl Info {
    /// A title and a version.
    pub fn new(title: impl Into<Cow<'static, str>>, version: impl Into<Cow<'static, str>>) -> Self {
        Info {
            title: title.into(),
            version: version.into(),
            description: None,
        }
    }

    /// With a description.
    #[must_use]
    pub fn description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = Some(description.into());
        self
    }

    pub(crate) fn to_value(&self) -> Value {
        let mut info = json!({ "title": self.title, "version": self.version });
        if let Some(description) = &self.description {
            info["description"] = json!(description);
        }
        info
    }
}

/// Which params structures a method takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParamStructure {
    /// An object keyed by name, or an array in order (what generated servers take).
    #[default]
    Either,
    /// An object keyed by name only.
    ByName,
    /// An array in order only.
    ByPosition,
}

impl ParamStructure {
    fn as_str(self) -> &'static str {
        match self {
            ParamStructure::Either => "either",
            ParamStructure::ByName => "by-name",
            ParamStructure::ByPosition => "by-position",
        }
    }
}

/// A named value and its JSON Schema: a param, a result, a stream's item.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentDescriptor {
    /// The name (a param's wire name).
    pub name: Cow<'static, str>,
    /// The JSON Schema (draft-07) of its values.
    pub schema: Value,
    /// Whether it must be given (params).
    pub required: bool,
    /// A short summary.
    pub summary: Option<Cow<'static, str>>,
    /// A description.
    pub description: Option<Cow<'static, str>>,
    /// Whether it is deprecated.
    pub deprecated: bool,
}

impl ContentDescriptor {
    /// `name` with values of `schema`, required.
    pub fn new(name: impl Into<Cow<'static, str>>, schema: Value) -> Self {
        ContentDescriptor {
            name: name.into(),
            schema,
            required: true,
            summary: None,
            description: None,
            deprecated: false,
        }
    }

    /// Whether it must be given.
    #[must_use]
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// With a description.
    #[must_use]
    pub fn description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = Some(description.into());
        self
    }

    pub(crate) fn to_value(&self) -> Value {
        self.to_value_as(true)
    }

    /// The descriptor; `required` only for a param (a result or an item is not
    /// given, but sent).
    fn to_value_as(&self, param: bool) -> Value {
        let mut out = named(
            &self.name,
            self.summary.as_deref(),
            self.description.as_deref(),
        );
        out.insert("schema".into(), self.schema.clone());
        if param && self.required {
            out.insert("required".into(), json!(true));
        }
        if self.deprecated {
            out.insert("deprecated".into(), json!(true));
        }
        Value::Object(out)
    }
}

/// An error a method may answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDoc {
    /// The JSON-RPC error code.
    pub code: i64,
    /// What the error means.
    pub message: Cow<'static, str>,
}

impl ErrorDoc {
    /// An error `code` with `message`.
    pub fn new(code: i64, message: impl Into<Cow<'static, str>>) -> Self {
        ErrorDoc {
            code,
            message: message.into(),
        }
    }

    fn to_value(&self) -> Value {
        json!({ "code": self.code, "message": self.message })
    }
}

/// One method of the document.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodDoc {
    /// The wire name.
    pub name: Cow<'static, str>,
    /// A short summary (a doc comment's first paragraph).
    pub summary: Option<Cow<'static, str>>,
    /// A longer description (the whole doc comment, when it has more than one
    /// paragraph).
    pub description: Option<Cow<'static, str>>,
    /// The params, in order.
    pub params: Vec<ContentDescriptor>,
    /// Which params structures it takes.
    pub param_structure: ParamStructure,
    /// The result; `None` for a notification.
    pub result: Option<ContentDescriptor>,
    /// The error codes it may answer.
    pub errors: Vec<ErrorDoc>,
    /// Whether it is deprecated.
    pub deprecated: bool,
    /// For a streaming method: the notification its items come in, the method that
    /// stops it, and each item.
    pub subscription: Option<(Cow<'static, str>, Cow<'static, str>, ContentDescriptor)>,
}

impl MethodDoc {
    /// A method with no params and no result (a notification) yet.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        MethodDoc {
            name: name.into(),
            summary: None,
            description: None,
            params: Vec::new(),
            param_structure: ParamStructure::Either,
            result: None,
            errors: Vec::new(),
            deprecated: false,
            subscription: None,
        }
    }

    /// With a summary.
    #[must_use]
    pub fn summary(mut self, summary: impl Into<Cow<'static, str>>) -> Self {
        self.summary = Some(summary.into());
        self
    }

    /// With a description.
    #[must_use]
    pub fn description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// With one more param.
    #[must_use]
    pub fn param(mut self, param: ContentDescriptor) -> Self {
        self.params.push(param);
        self
    }

    /// With its result.
    #[must_use]
    pub fn result(mut self, result: ContentDescriptor) -> Self {
        self.result = Some(result);
        self
    }

    /// With one more error.
    #[must_use]
    pub fn error(mut self, error: ErrorDoc) -> Self {
        self.errors.push(error);
        self
    }

    /// With its params structure.
    #[must_use]
    pub fn param_structure(mut self, structure: ParamStructure) -> Self {
        self.param_structure = structure;
        self
    }

    /// Marked deprecated.
    #[must_use]
    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    /// Takes a doc comment's text: its first paragraph is the summary, and the whole
    /// of it the description when there is more than that.
    #[must_use]
    pub fn doc(mut self, text: &str) -> Self {
        let text = text.trim();
        if text.is_empty() {
            return self;
        }
        let first = text.split("\n\n").next().unwrap_or(text);
        let summary = first.split_whitespace().collect::<Vec<_>>().join(" ");
        self.summary = Some(summary.into());
        if first.len() < text.len() {
            self.description = Some(text.to_owned().into());
        }
        self
    }

    /// The method object.
    pub(crate) fn to_value(&self) -> Value {
        let mut out = named(
            &self.name,
            self.summary.as_deref(),
            self.description.as_deref(),
        );
        out.insert(
            "params".into(),
            Value::Array(
                self.params
                    .iter()
                    .map(ContentDescriptor::to_value)
                    .collect(),
            ),
        );
        if let Some(result) = &self.result {
            out.insert("result".into(), result.to_value_as(false));
        }
        if !self.errors.is_empty() {
            out.insert(
                "errors".into(),
                Value::Array(self.errors.iter().map(ErrorDoc::to_value).collect()),
            );
        }
        out.insert(
            "paramStructure".into(),
            json!(self.param_structure.as_str()),
        );
        if self.deprecated {
            out.insert("deprecated".into(), json!(true));
        }
        if let Some((notification, unsubscribe, item)) = &self.subscription {
            out.insert(
                "x-subscription".into(),
                json!({
                    "notification": notification,
                    "unsubscribe": unsubscribe,
                    "item": item.to_value_as(false),
                }),
            );
        }
        Value::Object(out)
    }

    /// The schemas of what the server sends for this method (its result, a stream's
    /// items), whose references follow a renamed definition.
    pub(crate) fn sent_schemas_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        let item = self
            .subscription
            .as_mut()
            .map(|(_, _, item)| &mut item.schema);
        self.result
            .as_mut()
            .map(|r| &mut r.schema)
            .into_iter()
            .chain(item)
    }
}
