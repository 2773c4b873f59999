//! Mnemo's engine: a Llama-architecture model in burn, LoRA fine-tuning and evaluation
//! (ModelFactory), a content-addressed blob store and the HTTP API the chain's offchain workers
//! call. The `mnemo-engine` binary is a thin CLI over this library.

pub mod bench;
pub mod bench_attribution;
pub mod bench_serve;
pub mod data;
pub mod api;
pub mod attribution;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod home;
pub mod lora;
pub mod meter;
pub mod model;
pub mod openai;
pub mod plot;
pub mod serve;
pub mod service;
pub mod serving;
pub mod store;
pub mod threads;
pub mod tokenizer;
pub mod train;
pub mod validate;

pub use error::{Error, Result};
