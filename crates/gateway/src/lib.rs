//! Connects to MCP servers and serves their tools to the codemode sandbox.
//!
//! A [`Gateway`] holds one connection per configured upstream (stdio child processes and
//! streamable HTTP servers, through the official `rmcp` SDK), a [`Catalog`] of their tools with
//! the identifiers snippets call them by, and the [`sandbox::Host`] that answers a snippet's
//! `await tools.<namespace>.<tool>(args)`: it checks the arguments against the tool's input
//! schema, calls the upstream with a timeout, and unwraps the result.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use gateway::{Config, Gateway};
//! let config = Config::load(std::path::Path::new("codemode.json"))?;
//! let gateway = Gateway::connect(&config).await;
//! let outcome = gateway
//!     .execute("return await tools.time.get_current_time({ timezone: 'UTC' })", Default::default())
//!     .await;
//! println!("{}", serde_json::to_string(&outcome)?);
//! # Ok(()) }
//! ```
//!
//! It knows nothing about the agent-facing server: that is the `codemode` binary's.

#![forbid(unsafe_code)]

mod admission;
pub mod audit;
pub mod cache;
mod catalog;
pub mod config;
mod forward;
mod gateway;
mod metrics;
pub mod policy;
mod precheck;
mod shapes;
pub mod signin;
pub mod skills;
pub mod store;
pub mod trace;
pub mod unwrap;
pub mod upstream;
pub mod validate;

pub use admission::{ApprovalRequest, Approver, Client};
pub use catalog::{Catalog, DirectTool, UpstreamStatus};
pub use config::{Config, ConfigError, Limits};
pub use forward::{Ask, Forward};
pub use gateway::{Gateway, Isolation, Progress};
pub use precheck::Problem;
pub use skills::Skills;
pub use store::Store;

/// The hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
