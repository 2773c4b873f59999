//! Payer vouchers: a payer signs one per inference on its payment channel to a serving operator
//! (numbered by `seq`, with the channel's `cumulative` consent), the operator checks it before
//! answering and records it with the receipt, and the chain checks it again.
//!
//! Over HTTP a voucher travels in one header, `X-Mnemo-Voucher`, holding the hex of the SCALE
//! encoding of [`SignedVoucher`] `(payer, voucher, signature)`.

use crate::Signer;
use codec::{Decode, Encode};
use mnemo_primitives::{AccountId, BlockNumber, Voucher};
use polkadot_sdk::sp_runtime::MultiSignature;

/// The runtime's voucher type.
pub type VoucherOf = Voucher<AccountId, BlockNumber>;

/// A voucher with its payer and the payer's signature of [`Voucher::signing_payload`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedVoucher {
	pub payer: AccountId,
	pub voucher: VoucherOf,
	pub signature: MultiSignature,
}

/// The HTTP header carrying a [`SignedVoucher`].
pub const HEADER: &str = "x-mnemo-voucher";

impl SignedVoucher {
	/// `voucher` signed by `payer`.
	pub fn sign(payer: &Signer, voucher: VoucherOf) -> Self {
		let signature = payer.sign(&voucher.signing_payload());
		SignedVoucher { payer: payer.account(), voucher, signature }
	}

	/// Whether the signature is the payer's, over the payload raw or wrapped in
	/// `<Bytes>`…`</Bytes>` (as Polkadot.js `signRaw` signs), as the chain accepts.
	pub fn verify(&self) -> bool {
		self.voucher.signed_by(&self.signature, &self.payer)
	}

	/// The header value.
	pub fn to_header(&self) -> String {
		hex::encode(self.encode())
	}

	/// Parses a header value.
	pub fn from_header(s: &str) -> Result<Self, String> {
		let bytes = hex::decode(s.trim().trim_start_matches("0x")).map_err(|e| format!("not hex: {e}"))?;
		let mut input = &bytes[..];
		let v = Self::decode(&mut input).map_err(|e| format!("not a SCALE-encoded (payer, voucher, signature): {e}"))?;
		if !input.is_empty() {
			return Err(format!("{} bytes left over after the voucher", input.len()));
		}
		Ok(v)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use polkadot_sdk::sp_core::H256;

	fn voucher(operator: AccountId) -> VoucherOf {
		Voucher {
			request: [7; 16],
			operator,
			adapter: 3,
			max_price_per_1k: 1_000,
			max_tokens: 256,
			channel: 2,
			seq: 4,
			cumulative: 1_000,
			expires_at: 100,
			genesis: H256::repeat_byte(1),
		}
	}

	#[test]
	fn a_signed_voucher_round_trips_and_only_its_payer_signs_it() {
		let (bob, alice) = (Signer::from_suri("//Bob").unwrap(), Signer::from_suri("//Alice").unwrap());
		let v = SignedVoucher::sign(&bob, voucher(alice.account()));
		assert!(v.verify());
		let back = SignedVoucher::from_header(&v.to_header()).unwrap();
		assert_eq!(back, v);
		let mut forged = v.clone();
		forged.voucher.max_tokens = 10_000;
		assert!(!forged.verify(), "a changed voucher does not verify");
		let mut raised = v.clone();
		raised.voucher.cumulative += 1;
		assert!(!raised.verify(), "nor one whose consent was raised");
		let mut other = v.clone();
		other.payer = alice.account();
		assert!(!other.verify(), "someone else's signature does not verify");
		// Wrapped as Polkadot.js signRaw wraps it.
		let mut wrapped = b"<Bytes>".to_vec();
		wrapped.extend(v.voucher.signing_payload());
		wrapped.extend(b"</Bytes>");
		let w = SignedVoucher { signature: bob.sign(&wrapped), ..v.clone() };
		assert!(w.verify());
		assert!(SignedVoucher::from_header("zz").is_err());
		assert!(SignedVoucher::from_header(&format!("{}00", v.to_header())).unwrap_err().contains("left over"));
	}
}
