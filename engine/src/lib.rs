//! Mnemo's engine: a Llama-architecture model in burn, LoRA fine-tuning and evaluation
//! (ModelFactory), Proof of Attribution, many adapters served on one base behind an
//! OpenAI-compatible API, a content-addressed blob store and the HTTP API the chain's offchain
//! workers call. The `mnemo-engine` binary is a thin CLI over this library.
//!
//! - [`model`]: the decoder and its formats (GGUF, the tokenizer, LoRA adapters) and generation;
//! - [`train`]: contributions, the split, training, evaluation, validation, the loss plot;
//! - [`attribution`]: influence, spans, copies, the digest;
//! - [`serve`]: the continuous-batching scheduler, the adapter bank, deployments and metering;
//! - [`api`]: the engine as a service and its HTTP routes, the OpenAI-compatible ones included;
//! - [`store`], [`home`], [`threads`], [`error`]; [`bench`]: the benchmarks.

pub mod api;
pub mod attribution;
pub mod bench;
pub mod error;
pub mod home;
pub mod model;
pub mod serve;
pub mod store;
pub mod threads;
pub mod train;

pub use error::{Error, Result};
