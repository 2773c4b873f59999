//! One error shape for every failure: a stable `name` scripts can match on (`Datanets::Duplicate`,
//! `NodeUnreachable`, `FileNotFound`, …), a one-line `message`, and for chain errors the error's
//! doc text from the runtime's metadata.

use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
	/// `Pallet::Variant` for a module error, otherwise a CamelCase kind.
	pub name: String,
	pub message: String,
	/// The runtime's documentation of a module error.
	pub docs: Option<String>,
}

impl CliError {
	pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
		CliError { name: name.into(), message: message.into(), docs: None }
	}

	pub fn with_docs(mut self, docs: impl Into<String>) -> Self {
		let docs = docs.into();
		self.docs = (!docs.is_empty()).then_some(docs);
		self
	}

	pub fn bad_input(message: impl Into<String>) -> Self {
		CliError::new("BadInput", message)
	}

	/// `{"error": {"name", "message", "docs"}}`.
	pub fn to_json(&self) -> serde_json::Value {
		json!({ "error": { "name": self.name, "message": self.message, "docs": self.docs } })
	}

	/// One line: `Datanets::Duplicate — this content hash is already in the datanet (message)`.
	pub fn human(&self) -> String {
		match &self.docs {
			Some(docs) if self.message.is_empty() => format!("{} — {docs}", self.name),
			Some(docs) => format!("{} — {docs} ({})", self.name, self.message),
			None => format!("{}: {}", self.name, self.message),
		}
	}
}

impl std::fmt::Display for CliError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.write_str(&self.human())
	}
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn module_errors_render_name_docs_and_message() {
		let e = CliError::new("Datanets::Duplicate", "").with_docs("This content hash is already in the datanet.");
		assert_eq!(e.human(), "Datanets::Duplicate — This content hash is already in the datanet.");
		let e = e.clone().with_docs("docs");
		assert_eq!(e.to_json()["error"]["name"], "Datanets::Duplicate");
		assert_eq!(e.to_json()["error"]["docs"], "docs");
		let plain = CliError::new("FileNotFound", "no such file: a.txt");
		assert_eq!(plain.human(), "FileNotFound: no such file: a.txt");
		assert!(plain.to_json()["error"]["docs"].is_null());
		let both = CliError::new("Datanets::TooLarge", "contribution 3").with_docs("Too big.");
		assert_eq!(both.human(), "Datanets::TooLarge — Too big. (contribution 3)");
		assert!(CliError::new("X", "y").with_docs("").docs.is_none());
	}
}
