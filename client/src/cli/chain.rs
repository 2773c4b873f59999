//! The node, through the typed API: connecting with a timeout, reading at the best block, and
//! submitting a signed call with its cost shown, a progress spinner while it waits for inclusion,
//! and a failed call turned into the module error's name and doc text from the metadata.

use super::{CliError, Ui};
use crate::typed::{MnemoConfig, OnlineClient};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::{Duration, Instant};
use subxt::{
	client::OnlineClientAtBlock,
	error::{DispatchError, TransactionEventsError},
	events::DecodeAsEvent,
	transactions::{DefaultParams, Payload, TransactionStatus},
	utils::AccountId32,
};
use subxt_signer::sr25519::Keypair;

pub type At = OnlineClientAtBlock<MnemoConfig>;
pub type Events = subxt::extrinsics::ExtrinsicEvents<MnemoConfig>;

pub struct Chain {
	pub api: OnlineClient<MnemoConfig>,
	pub url: String,
	pub timeout: Duration,
	pub ui: Ui,
}

/// What one signed call did: its block and its events.
pub struct Included {
	pub block: u64,
	pub fee: u128,
	pub events: Events,
}

impl Included {
	/// The first event of type `E` the call emitted.
	pub fn event<E: DecodeAsEvent>(&self) -> Result<E, CliError> {
		let name = std::any::type_name::<E>().rsplit("::").next().unwrap_or("expected");
		match self.events.find_first::<E>() {
			Some(Ok(e)) => Ok(e),
			Some(Err(e)) => Err(CliError::new("Decode", format!("cannot decode the {} event: {e}", name))),
			None => Err(CliError::new("MissingEvent", format!("the call landed but emitted no {} event", name))),
		}
	}
}

/// A spinner on stderr while something is awaited (only on a terminal, never with `--json`).
pub fn spinner(ui: Ui, msg: String) -> ProgressBar {
	if !ui.tty || ui.json {
		return ProgressBar::hidden();
	}
	let pb = ProgressBar::new_spinner();
	pb.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").unwrap_or_else(|_| ProgressStyle::default_spinner()));
	pb.set_message(msg);
	pb.enable_steady_tick(Duration::from_millis(120));
	pb
}

fn rpc_error(url: &str, e: impl std::fmt::Display) -> CliError {
	CliError::new("NodeUnreachable", format!("cannot talk to the node at {url}: {e}"))
}

impl Chain {
	pub async fn connect(url: &str, timeout: Duration, ui: Ui) -> Result<Chain, CliError> {
		let pb = spinner(ui, format!("connecting to {url}"));
		let api = tokio::time::timeout(timeout, OnlineClient::<MnemoConfig>::from_insecure_url(url))
			.await
			.map_err(|_| CliError::new("NodeUnreachable", format!("no answer from the node at {url} in {} s", timeout.as_secs())))?
			.map_err(|e| rpc_error(url, e))?;
		pb.finish_and_clear();
		Ok(Chain { api, url: url.to_string(), timeout, ui })
	}

	/// A failure to talk to the node (naming its URL).
	pub fn unreachable(&self, e: impl std::fmt::Display) -> CliError {
		rpc_error(&self.url, e)
	}

	/// The chain at its best block.
	pub async fn at(&self) -> Result<At, CliError> {
		self.api.at_current_block().await.map_err(|e| rpc_error(&self.url, e))
	}

	/// A view function's answer at the best block.
	///
	/// Called through the `RuntimeViewFunction_execute_view_function` runtime API directly:
	/// subxt 0.50.2's `view_functions().call` passes the input without the `Vec<u8>` length
	/// prefix the runtime API (polkadot-sdk 2609) takes, and decodes the answer without its
	/// `Result<Vec<u8>, ViewFunctionDispatchError>` wrapper, so every call fails to decode.
	pub async fn view<P: subxt::view_functions::Payload>(&self, payload: P) -> Result<P::ReturnType, CliError> {
		use codec::{Decode, Encode};
		use subxt::ext::scale_decode::DecodeAsType;
		let at = self.at().await?;
		let what = format!("{}.{}", payload.pallet_name(), payload.function_name());
		let decode_err = |e: &dyn std::fmt::Display| CliError::new("Decode", format!("cannot decode the answer of {what}: {e}"));
		let output_ty = at
			.metadata_ref()
			.pallet_by_name(payload.pallet_name())
			.and_then(|p| p.view_function_by_name(payload.function_name()))
			.map(|v| v.output_ty())
			.ok_or_else(|| CliError::new("Incompatible", format!("the node's runtime has no view function {what}")))?;
		// subxt's encoding: the 32-byte query id, then the arguments.
		let encoded = at.view_functions().encode_args(&payload).map_err(|e| CliError::bad_input(format!("{what}: {e}")))?;
		let (id, args) = encoded.split_at(32.min(encoded.len()));
		let mut call = id.to_vec();
		args.to_vec().encode_to(&mut call);
		let raw = at
			.view_functions()
			.call_raw(Some(&call))
			.await
			.map_err(|e| rpc_error(&self.url, e))?;
		let answer: Result<Vec<u8>, ViewError> = Decode::decode(&mut &raw[..]).map_err(|e| decode_err(&e))?;
		let bytes = answer.map_err(|e| CliError::new("Incompatible", format!("the runtime refused {what}: {e:?}")))?;
		P::ReturnType::decode_as_type(&mut &bytes[..], output_ty, at.metadata_ref().types()).map_err(|e| decode_err(&e))
	}

	/// A storage value at the best block (`None`: not set).
	pub async fn fetch<A: subxt::storage::Address>(&self, addr: A, key: A::KeyParts) -> Result<Option<A::Value>, CliError>
	where
		A::Value: subxt::ext::scale_decode::DecodeAsType,
	{
		let at = self.at().await?;
		let v = at.storage().try_fetch(addr, key).await.map_err(|e| rpc_error(&self.url, e))?;
		v.map(|v| v.decode_as::<A::Value>().map_err(|e| CliError::new("Decode", e.to_string()))).transpose()
	}

	/// Signs `call`, shows its fee plus `holds` (what it will hold or move) and asks to go on when
	/// `costs` is set, submits it, waits for inclusion in a best block (with a timeout) and returns
	/// its events; a failed call is its module error.
	pub async fn submit<C: Payload>(
		&self,
		signer: &Keypair,
		call: &C,
		what: &str,
		holds: Option<String>,
	) -> Result<Included, CliError> {
		let at = self.at().await?;
		let mut txs = at.transactions();
		let tx = txs
			.create_signed(call, signer, DefaultParams::default_params())
			.await
			.map_err(|e| CliError::new("BadTransaction", format!("cannot build {what}: {e}")))?;
		let fee = tx.partial_fee_estimate().await.map_err(|e| invalid(what, e))?;
		if let Some(holds) = holds {
			self.ui.confirm(&format!("{what}: {holds}, fee about {}", super::fmt_amount(fee)))?;
		}
		let pb = spinner(self.ui, format!("waiting for {what} to be included (up to {} s)", self.timeout.as_secs()));
		let deadline = Instant::now() + self.timeout;
		let mut progress = tx.submit_and_watch().await.map_err(|e| invalid(what, e))?;
		loop {
			let left = deadline.saturating_duration_since(Instant::now());
			let status = match tokio::time::timeout(left, progress.next()).await {
				Err(_) => {
					return Err(CliError::new(
						"Timeout",
						format!("{what} was sent but not included within {} s; it may still land", self.timeout.as_secs()),
					))
				},
				Ok(None) => return Err(CliError::new("Dropped", format!("the node stopped reporting on {what}"))),
				Ok(Some(s)) => s.map_err(|e| invalid(what, e))?,
			};
			match status {
				TransactionStatus::InBestBlock(b) | TransactionStatus::InFinalizedBlock(b) => {
					pb.finish_and_clear();
					let block = b.at().await.map_err(|e| rpc_error(&self.url, e))?.block_number();
					let events = b.wait_for_success().await.map_err(|e| failed(what, e))?;
					return Ok(Included { block, fee, events });
				},
				TransactionStatus::Invalid { message } | TransactionStatus::Dropped { message } | TransactionStatus::Error { message } => {
					return Err(CliError::new("TransactionRefused", format!("the node refused {what}: {message}")))
				},
				_ => continue,
			}
		}
	}

	/// The signer's free balance (for "not enough funds" before trying).
	pub async fn free_balance(&self, who: &AccountId32) -> Result<u128, CliError> {
		let info = self.fetch(crate::typed::runtime::storage().system().account(), (who.clone(),)).await?;
		Ok(info.map(|i| i.data.free).unwrap_or(0))
	}
}

/// The runtime's `ViewFunctionDispatchError`.
#[derive(Debug, codec::Decode)]
enum ViewError {
	NotImplemented,
	NotFound(#[allow(dead_code)] [u8; 32]),
	Codec,
}

fn invalid(what: &str, e: impl std::fmt::Display) -> CliError {
	let msg = e.to_string();
	if msg.contains("Inability to pay") || msg.contains("1010") {
		return CliError::new("InsufficientFunds", format!("{what}: the signer cannot pay the fee ({msg})"));
	}
	CliError::new("TransactionRefused", format!("the node refused {what}: {msg}"))
}

/// A call that was included but failed: `Pallet::Error` and its docs from the metadata.
fn failed(what: &str, e: TransactionEventsError) -> CliError {
	match e {
		TransactionEventsError::ExtrinsicFailed(d) => dispatch_error(what, &d),
		other => CliError::new("Decode", format!("{what} was included but its outcome could not be read: {other}")),
	}
}

/// `Pallet::Variant`, with the variant's doc text from the metadata.
pub fn module_error(pallet: &str, variant: &str, docs: &[String], message: String) -> CliError {
	CliError::new(format!("{pallet}::{variant}"), message).with_docs(docs.join(" ").trim().to_string())
}

pub fn dispatch_error(what: &str, d: &DispatchError) -> CliError {
	if let DispatchError::Module(m) = d {
		if let Ok(details) = m.details() {
			return module_error(details.pallet.name(), &details.variant.name, &details.variant.docs, format!("{what} failed"));
		}
	}
	let name = format!("{d:?}");
	let name = name.split(['(', ' ', '{']).next().unwrap_or("DispatchError").to_string();
	CliError::new(format!("Dispatch::{name}"), format!("{what} failed: {d}"))
}
