//! Behaviour tests of the presence stores, written once and run against each: the memory
//! store always, the Redis store when `PRESENCE_TEST_REDIS_URL` names a Redis to use (each
//! test under a key prefix of its own, deleted afterwards).
//!
//! Time is real: expiry tests use a short TTL and poll, with a bound, until it has happened.

#[path = "../common/mod.rs"]
mod common;
mod events;
mod expiry;
mod harness;
mod limits;
mod model;
mod presence;
mod stats;
mod upgrade;
mod versions;
