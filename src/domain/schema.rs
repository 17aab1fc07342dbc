//! The OpenAPI schemas of the strings the domain types accept, so each rule
//! is written once, next to its parser, and the document states it too
//! (clients can check before they send; the parser stays the authority).

use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

/// A string rule: a pattern (ECMA-262) and lengths in characters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rule {
    /// What the value is.
    pub description: &'static str,
    /// The pattern, if any.
    pub pattern: Option<&'static str>,
    /// The least length.
    pub min: Option<usize>,
    /// The greatest length.
    pub max: Option<usize>,
    /// A secret (`format: password`).
    pub secret: bool,
    /// An example value.
    pub example: Option<&'static str>,
}

impl Rule {
    /// The schema of a value that must be present.
    pub fn required(self) -> Object {
        self.builder(SchemaType::Type(Type::String)).build()
    }

    /// The schema of a value that may be `null` (omitted or cleared).
    pub fn nullable(self) -> Object {
        self.builder(SchemaType::from_iter([Type::String, Type::Null]))
            .build()
    }

    fn builder(self, kind: SchemaType) -> ObjectBuilder {
        let mut builder = ObjectBuilder::new()
            .schema_type(kind)
            .description(Some(self.description))
            .pattern(self.pattern)
            .min_length(self.min)
            .max_length(self.max);
        if self.secret {
            builder = builder.format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)));
        }
        if let Some(example) = self.example {
            builder = builder.examples([serde_json::json!(example)]);
        }
        builder
    }
}
