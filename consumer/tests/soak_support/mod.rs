//! The soak test's machinery (see `tests/soak.rs`): the actors, each in its own module, the
//! ledger they check against, and the harness that runs them for a while and checks what is
//! left.

pub mod auditor;
pub mod churner;
pub mod compacted;
pub mod conductor;
pub mod drain;
pub mod harness;
pub mod ledger;
pub mod maintenance;
pub mod member;
pub mod ownership;
pub mod producers;
pub mod records;
pub mod rng;
pub mod world;

pub use harness::{run, Settings};
