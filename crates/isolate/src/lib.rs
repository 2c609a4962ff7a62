//! Process isolation for codemode executions: each snippet runs in a jailed worker process
//! (the same binary, started with a hidden subcommand) that holds no secret and can reach
//! nothing but its parent, which answers its tool calls.
//!
//! - [`pool`]: the parent's side, a pool of pre-started workers ([`Pool`]).
//! - [`worker`]: the worker's `main`.
//! - [`jail`]: what a worker does to itself before it accepts code.
//! - [`template`]: the jailed process that forks workers, and what it tells the pool.
//! - [`protocol`]: the messages between them, one JSON object per line.
//! - [`memory`]: the global allocator (of every binary that links this crate), which caps a
//!   worker's memory outside the JavaScript heap.

pub mod jail;
pub mod memory;
pub mod pool;
pub mod protocol;
pub mod template;
pub mod worker;

pub use pool::{Control, Pool, PoolConfig, StartError};
