//! A REST API's OpenAPI document as tools: each operation a [`tsgen::Tool`] (its parameters
//! and body as the input schema, its success response as the output schema), and a call's
//! arguments turned back into the HTTP request the operation describes.
//!
//! Pure: text in, tools and request parts out. No network, no credentials' values: the
//! embedder reads the document, sends the request, and applies the credentials the
//! [`Request`] names.
//!
//! ```
//! let document = openapi::Document::parse(r##"{
//!   "openapi": "3.1.0", "info": {"title": "Pets", "version": "1"},
//!   "servers": [{"url": "https://pets.example/v1"}],
//!   "paths": {"/pets/{id}": {"get": {"operationId": "getPet",
//!     "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
//!     "responses": {"200": {"description": "A pet", "content": {"application/json":
//!       {"schema": {"$ref": "#/components/schemas/Pet"}}}}}}}},
//!   "components": {"schemas": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}}}
//! }"##).unwrap();
//! let api = openapi::Api::new(&document, &openapi::Filter::default());
//! assert_eq!(api.tools[0].name, "getPet");
//! let request = api.operations[0]
//!     .request(&serde_json::json!({"id": 7}), &|_| false)
//!     .unwrap();
//! assert_eq!(request.path_and_query(), "/pets/7");
//! ```

#![forbid(unsafe_code)]

mod document;
mod operations;
mod request;
mod schema;

pub use document::{Document, Scheme, SchemeKind};
pub use operations::{Api, Filter, Location, Operation, Parameter};
pub use request::{Body, Request};
