//! Black-box tests of the HTTP API: the real server on a free port, driven with reqwest.

mod bad_input;
mod cli;
mod cluster;
#[path = "../common/mod.rs"]
mod common;
mod cross_site;
mod health;
mod heartbeat;
mod helpers;
mod join;
mod leave;
mod limits;
mod list;
mod metrics;
mod openapi;
mod profiles;
mod redis_mode;
mod security_doc;
mod session;
mod stats;
mod stream;
mod tokens;
