//! Black-box tests of the HTTP API: the real server on a free port, driven with reqwest.

mod helpers;
