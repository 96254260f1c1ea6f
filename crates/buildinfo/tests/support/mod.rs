//! What the crate's integration tests share.
#![allow(dead_code)]

pub mod synth;
pub mod tools;
