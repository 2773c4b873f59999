//! Exact and near duplicates, found before any gradient is computed, so copying data cannot
//! multiply a share. The engine's one MinHash: contribution validation uses it too.
//!
//! Text is normalised (lower case, every run of characters that are not letters or digits
//! becomes one space) and cut into shingles of three consecutive words (word shingles, not
//! character ones: paragraphs on one topic share most character n-grams through their
//! vocabulary, not their sentences); each text gets a MinHash signature of
//! [`PERMUTATIONS`] 64-bit hashes (seeded, so every engine computes the same ones), bucketed by
//! locality-sensitive hashing (`BANDS` bands of `ROWS` rows). Two texts whose estimated Jaccard
//! similarity reaches the threshold are duplicates. Whole contributions are compared first (a
//! contribution that copies an earlier one, whatever its whitespace, drops out entirely), then
//! examples (paragraphs) across all that remain, within one contribution too. In each cluster
//! the first member in approval order keeps its place and later ones are dropped: a cluster is
//! credited once, to whoever brought it first.

/// Hash functions per signature.
pub const PERMUTATIONS: usize = 128;
const BANDS: usize = 32;
const ROWS: usize = PERMUTATIONS / BANDS;
/// Words per shingle.
pub const SHINGLE: usize = 3;

/// splitmix64's finaliser: a fixed, well-mixed 64-bit hash step.
fn mix(mut z: u64) -> u64 {
	z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
	z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
	z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
	z ^ (z >> 31)
}

/// Lower case, letters and digits only, single spaces between words.
pub fn normalise(text: &str) -> String {
	let mut out = String::with_capacity(text.len());
	for c in text.chars().flat_map(char::to_lowercase) {
		if c.is_alphanumeric() {
			out.push(c);
		} else if !out.is_empty() && !out.ends_with(' ') {
			out.push(' ');
		}
	}
	if out.ends_with(' ') {
		out.pop();
	}
	out
}

/// The hashes of a text's shingles ([`SHINGLE`] consecutive words of its normalised form, or
/// the whole text when it is shorter), in order, repeats included.
pub fn shingles(text: &str) -> Vec<u64> {
	let norm = normalise(text);
	let words: Vec<u64> =
		norm.split(' ').map(|w| w.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| mix(h ^ u64::from(b)))).collect();
	let shingle_hash = |w: &[u64]| w.iter().fold(0x8422_2325_cbf2_9ce4u64, |h, x| mix(h ^ x));
	if words.len() <= SHINGLE {
		vec![shingle_hash(&words)]
	} else {
		words.windows(SHINGLE).map(shingle_hash).collect()
	}
}

/// A text's MinHash signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature(pub [u64; PERMUTATIONS]);

impl Signature {
	pub fn of(text: &str) -> Self {
		let mut sig = [u64::MAX; PERMUTATIONS];
		for h in shingles(text) {
			for (j, s) in sig.iter_mut().enumerate() {
				*s = (*s).min(mix(h ^ mix(j as u64 + 1)));
			}
		}
		Signature(sig)
	}

	/// Estimated Jaccard similarity: the fraction of equal minima.
	pub fn similarity(&self, other: &Signature) -> f64 {
		self.0.iter().zip(other.0.iter()).filter(|(a, b)| a == b).count() as f64 / PERMUTATIONS as f64
	}
}

/// For texts in approval order: `Some(j)` when text `i` duplicates the earlier text `j` (the
/// first of its cluster), `None` when it is the first of its kind.
pub fn first_copies(texts: &[&str], threshold: f64) -> Vec<Option<usize>> {
	let sigs: Vec<Signature> = texts.iter().map(|t| Signature::of(t)).collect();
	let mut buckets: std::collections::HashMap<(usize, u64), Vec<usize>> = Default::default();
	let mut out = vec![None; texts.len()];
	for (i, sig) in sigs.iter().enumerate() {
		let mut candidates: Vec<usize> = Vec::new();
		let keys: Vec<(usize, u64)> = (0..BANDS)
			.map(|b| (b, sig.0[b * ROWS..(b + 1) * ROWS].iter().fold(b as u64, |h, x| mix(h ^ x))))
			.collect();
		for k in &keys {
			if let Some(v) = buckets.get(k) {
				candidates.extend(v);
			}
		}
		candidates.sort_unstable();
		candidates.dedup();
		// The earliest kept text it is similar enough to.
		let first = candidates.into_iter().find(|&j| out[j].is_none() && sig.similarity(&sigs[j]) >= threshold);
		match first {
			Some(j) => out[i] = Some(j),
			None => keys.into_iter().for_each(|k| buckets.entry(k).or_default().push(i)),
		}
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;
	use rand::{Rng, SeedableRng};

	const TEXT: &str = "Now is the winter of our discontent made glorious summer by this sun of York, and all \
		the clouds that lour'd upon our house in the deep bosom of the ocean buried. Now are our brows bound \
		with victorious wreaths, our bruised arms hung up for monuments, our stern alarums changed to merry \
		meetings, our dreadful marches to delightful measures.";

	/// `text` with about `fraction` of its words replaced by other words.
	fn edit_words(text: &str, fraction: f64, seed: u64) -> String {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
		text.split(' ')
			.map(|w| if rng.random_bool(fraction) { "zephyr" } else { w })
			.collect::<Vec<_>>()
			.join(" ")
	}

	#[test]
	fn exact_reformatted_and_lightly_edited_copies_are_duplicates_and_other_text_is_not() {
		let spaced = TEXT.replace(' ', "   \n ").to_uppercase();
		let edited = edit_words(TEXT, 0.05, 1);
		assert_ne!(edited, TEXT);
		let other = "Friends, Romans, countrymen, lend me your ears; I come to bury Caesar, not to praise him. \
			The evil that men do lives after them; the good is oft interred with their bones.";
		let texts = [TEXT, other, TEXT, spaced.as_str(), edited.as_str()];
		let firsts = first_copies(&texts, 0.6);
		assert_eq!(firsts, vec![None, None, Some(0), Some(0), Some(0)]);
		println!("similarity of a 5%-edited copy: {:.2}", Signature::of(TEXT).similarity(&Signature::of(&edited)));
	}

	#[test]
	fn normalisation_ignores_case_spacing_and_punctuation() {
		assert_eq!(normalise("  Hello,   WORLD!\n\nagain "), "hello world again");
		assert_eq!(Signature::of("To be, or not"), Signature::of("to BE or   not."));
	}
}
