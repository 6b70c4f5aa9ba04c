//! Helpers shared by the assignor tests.
#![allow(dead_code)]

pub mod simple;
pub mod sticky;
