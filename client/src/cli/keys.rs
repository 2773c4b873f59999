//! Who signs: a secret URI (`--suri //Alice`) or a Polkadot.js JSON key file (`--key-file`) whose
//! password comes from `MNEMO_KEY_PASSWORD` or a prompt on the terminal. Accounts given as
//! arguments may be SS58 addresses, 0x public keys or SURIs.

use super::CliError;
use std::{io::IsTerminal, path::Path, str::FromStr};
use subxt::utils::AccountId32;
use subxt_signer::{sr25519::Keypair, SecretUri};

/// The environment variable a key file's password is read from.
pub const PASSWORD_ENV: &str = "MNEMO_KEY_PASSWORD";

pub fn signer(suri: Option<&str>, key_file: Option<&Path>) -> Result<Keypair, CliError> {
	match (suri, key_file) {
		(Some(s), _) => from_suri(s),
		(None, Some(path)) => from_key_file(path),
		(None, None) => Err(CliError::new(
			"NoSigner",
			"this command signs a transaction: pass --suri (e.g. //Alice on a dev chain) or --key-file",
		)),
	}
}

pub fn from_suri(s: &str) -> Result<Keypair, CliError> {
	let uri = SecretUri::from_str(s)
		.map_err(|_| CliError::new("BadKey", "not a secret URI (e.g. //Alice, a 12-word phrase or a 0x seed)"))?;
	Keypair::from_uri(&uri).map_err(|e| CliError::new("BadKey", format!("cannot derive a key from the secret URI: {e}")))
}

fn from_key_file(path: &Path) -> Result<Keypair, CliError> {
	let json = std::fs::read_to_string(path)
		.map_err(|e| CliError::new("FileNotFound", format!("cannot read the key file {}: {e}", path.display())))?;
	let password = match std::env::var(PASSWORD_ENV) {
		Ok(p) => p,
		Err(_) if std::io::stdin().is_terminal() => rpassword::prompt_password(format!("Password for {}: ", path.display()))
			.map_err(|e| CliError::new("BadKey", format!("cannot read the password: {e}")))?,
		Err(_) => {
			return Err(CliError::new(
				"NoPassword",
				format!("the key file needs its password: set {PASSWORD_ENV} or run on a terminal"),
			))
		},
	};
	from_json(&json, &password)
}

/// Decrypts a Polkadot.js key file (scrypt + xsalsa20-poly1305).
pub fn from_json(json: &str, password: &str) -> Result<Keypair, CliError> {
	subxt_signer::polkadot_js_compat::decrypt_json(json, password).map_err(|e| {
		let msg = e.to_string();
		if msg.to_lowercase().contains("password") || msg.to_lowercase().contains("decrypt") {
			CliError::new("BadPassword", "wrong password for the key file")
		} else {
			CliError::new("BadKey", format!("not a Polkadot.js key file: {msg}"))
		}
	})
}

/// An account named on the command line: SS58, 0x-hex public key, or a SURI (`//Bob`).
pub fn account(s: &str) -> Result<AccountId32, CliError> {
	if let Ok(a) = AccountId32::from_str(s) {
		return Ok(a);
	}
	if let Some(hex) = s.strip_prefix("0x") {
		if let Ok(bytes) = <[u8; 32]>::try_from(hex::decode(hex).unwrap_or_default().as_slice()) {
			return Ok(AccountId32(bytes));
		}
	}
	if s.starts_with("//") {
		return Ok(from_suri(s)?.public_key().into());
	}
	Err(CliError::bad_input(format!("`{s}` is not an account (an SS58 address, a 0x public key or a //Name)")))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn accounts_parse_from_ss58_hex_and_dev_names() {
		let bob: AccountId32 = subxt_signer::sr25519::dev::bob().public_key().into();
		assert_eq!(account("//Bob").unwrap(), bob);
		assert_eq!(account(&bob.to_string()).unwrap(), bob);
		assert_eq!(account(&format!("0x{}", hex::encode(bob.0))).unwrap(), bob);
		assert_eq!(account("bob").unwrap_err().name, "BadInput");
		assert_eq!(account("0x1234").unwrap_err().name, "BadInput");
	}

	#[test]
	fn a_missing_signer_and_a_bad_suri_are_named() {
		assert_eq!(signer(None, None).unwrap_err().name, "NoSigner");
		assert_eq!(from_suri("not a uri at all ///").unwrap_err().name, "BadKey");
		let missing = signer(None, Some(Path::new("/nonexistent/key.json"))).unwrap_err();
		assert_eq!(missing.name, "FileNotFound");
	}

	#[test]
	fn a_polkadot_js_key_file_opens_with_its_password_only() {
		let json = include_str!("../../tests/fixtures/alice-polkadotjs.json");
		let alice = from_json(json, "whoisalice").unwrap();
		assert_eq!(alice.public_key().0, subxt_signer::sr25519::dev::alice().public_key().0);
		assert_eq!(from_json(json, "whoisbob").err().unwrap().name, "BadPassword");
		assert_eq!(from_json("{}", "x").err().unwrap().name, "BadKey");
	}
}
