//! Verbatim spans (OLMoTrace-style): a suffix array over the tokenised training examples, and
//! the maximal spans of an output that occur in them, with the examples they occur in.
//!
//! The examples are concatenated with a separator no tokenizer produces (`u32::MAX`), so a match
//! never crosses from one example into the next. The suffix array is built by prefix doubling
//! (`O(n log² n)`); the longest match at each output position comes from the two suffixes around
//! its insertion point, and a span `[i, i + L(i))` is maximal when the span at `i - 1` does not
//! reach past it (`L(i - 1) ≤ L(i)`), which is also when no other matching span contains it.

const SEP: u32 = u32::MAX;

/// A suffix array over examples' tokens.
pub struct SuffixIndex {
	text: Vec<u32>,
	sa: Vec<u32>,
	/// Start offset of each example in `text`.
	starts: Vec<usize>,
}

/// A maximal span of the output found in the training examples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
	/// Output token positions `[start, end)`.
	pub start: usize,
	pub end: usize,
	/// Indices of the examples it occurs in, ascending, each once.
	pub examples: Vec<usize>,
}

impl SuffixIndex {
	pub fn build(examples: &[&[u32]]) -> Self {
		let mut text = Vec::new();
		let mut starts = Vec::with_capacity(examples.len());
		for e in examples {
			starts.push(text.len());
			text.extend(e.iter().copied().filter(|t| *t != SEP));
			text.push(SEP);
		}
		let sa = suffix_array(&text);
		SuffixIndex { text, sa, starts }
	}

	pub fn len(&self) -> usize {
		self.text.len()
	}

	pub fn is_empty(&self) -> bool {
		self.text.is_empty()
	}

	fn lcp(&self, pos: usize, q: &[u32]) -> usize {
		self.text[pos..].iter().zip(q).take_while(|(a, b)| a == b && **a != SEP).count()
	}

	/// Compares the suffix at `pos`, cut to `q.len()`, with `q`.
	fn cmp_prefix(&self, pos: usize, q: &[u32]) -> std::cmp::Ordering {
		let end = (pos + q.len()).min(self.text.len());
		self.text[pos..end].cmp(q)
	}

	/// Length of the longest prefix of `q` that occurs in the text.
	pub fn longest_match(&self, q: &[u32]) -> usize {
		if q.is_empty() || self.sa.is_empty() {
			return 0;
		}
		let at = self.sa.partition_point(|&p| self.text[p as usize..] < *q);
		let mut best = 0;
		if at > 0 {
			best = best.max(self.lcp(self.sa[at - 1] as usize, q));
		}
		if at < self.sa.len() {
			best = best.max(self.lcp(self.sa[at] as usize, q));
		}
		best
	}

	/// Examples in which `q` occurs, ascending.
	pub fn occurrences(&self, q: &[u32]) -> Vec<usize> {
		let lo = self.sa.partition_point(|&p| self.cmp_prefix(p as usize, q) == std::cmp::Ordering::Less);
		let hi = self.sa.partition_point(|&p| self.cmp_prefix(p as usize, q) != std::cmp::Ordering::Greater);
		let mut out: Vec<usize> =
			self.sa[lo..hi].iter().map(|&p| self.starts.partition_point(|&s| s <= p as usize) - 1).collect();
		out.sort_unstable();
		out.dedup();
		out
	}

	/// The maximal spans of `output` of at least `min_len` tokens that occur in the text.
	pub fn maximal_spans(&self, output: &[u32], min_len: usize) -> Vec<Span> {
		let lens: Vec<usize> = (0..output.len()).map(|i| self.longest_match(&output[i..])).collect();
		let mut out = Vec::new();
		for (i, &l) in lens.iter().enumerate() {
			if l == 0 || l < min_len.max(1) || (i > 0 && lens[i - 1] > l) {
				continue;
			}
			out.push(Span { start: i, end: i + l, examples: self.occurrences(&output[i..i + l]) });
		}
		out
	}
}

/// The suffix array of `text` by prefix doubling.
pub fn suffix_array(text: &[u32]) -> Vec<u32> {
	let n = text.len();
	let mut sa: Vec<u32> = (0..n as u32).collect();
	let mut rank: Vec<u64> = text.iter().map(|&t| u64::from(t)).collect();
	let mut tmp = vec![0u64; n];
	let mut k = 1;
	while n > 1 {
		let key = |i: u32, rank: &[u64]| {
			let i = i as usize;
			(rank[i], if i + k < n { rank[i + k] + 1 } else { 0 })
		};
		sa.sort_unstable_by_key(|&i| key(i, &rank));
		tmp[sa[0] as usize] = 0;
		for w in 1..n {
			let bump = u64::from(key(sa[w - 1], &rank) != key(sa[w], &rank));
			tmp[sa[w] as usize] = tmp[sa[w - 1] as usize] + bump;
		}
		std::mem::swap(&mut rank, &mut tmp);
		if rank[sa[n - 1] as usize] as usize == n - 1 {
			break;
		}
		k *= 2;
	}
	sa
}

#[cfg(test)]
mod tests {
	use super::*;
	use rand::{Rng, SeedableRng};

	fn occurs(hay: &[u32], q: &[u32]) -> bool {
		q.is_empty() || hay.windows(q.len()).any(|w| w == q)
	}

	/// Every maximal matching span by brute force: `[i, j)` occurs in some example, and neither
	/// `[i - 1, j)` nor `[i, j + 1)` does.
	fn brute(examples: &[Vec<u32>], out: &[u32], min_len: usize) -> Vec<Span> {
		let found = |q: &[u32]| examples.iter().any(|e| occurs(e, q));
		let mut spans = Vec::new();
		for i in 0..out.len() {
			for j in i + 1..=out.len() {
				let q = &out[i..j];
				if j - i < min_len || !found(q) {
					continue;
				}
				let left = i > 0 && found(&out[i - 1..j]);
				let right = j < out.len() && found(&out[i..j + 1]);
				if !left && !right {
					let ex = (0..examples.len()).filter(|&e| occurs(&examples[e], q)).collect();
					spans.push(Span { start: i, end: j, examples: ex });
				}
			}
		}
		spans
	}

	#[test]
	fn suffix_array_sorts_suffixes() {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
		for _ in 0..50 {
			let n = rng.random_range(0..60);
			let text: Vec<u32> = (0..n).map(|_| rng.random_range(0..3)).collect();
			let sa = suffix_array(&text);
			let mut want: Vec<u32> = (0..n as u32).collect();
			want.sort_by(|&a, &b| text[a as usize..].cmp(&text[b as usize..]));
			assert_eq!(sa, want);
		}
	}

	#[test]
	fn maximal_spans_equal_brute_force_on_random_strings() {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
		for round in 0..200 {
			let alphabet = rng.random_range(2..5);
			let examples: Vec<Vec<u32>> = (0..rng.random_range(1..5))
				.map(|_| (0..rng.random_range(0..30)).map(|_| rng.random_range(0..alphabet)).collect())
				.collect();
			let out: Vec<u32> = (0..rng.random_range(0..25)).map(|_| rng.random_range(0..alphabet)).collect();
			let min_len = rng.random_range(1..4);
			let refs: Vec<&[u32]> = examples.iter().map(Vec::as_slice).collect();
			let index = SuffixIndex::build(&refs);
			assert_eq!(index.maximal_spans(&out, min_len), brute(&examples, &out, min_len), "round {round}");
		}
	}

	#[test]
	fn matches_never_cross_example_boundaries() {
		let index = SuffixIndex::build(&[&[1, 2, 3], &[4, 5]]);
		assert_eq!(index.longest_match(&[2, 3, 4, 5]), 2);
		assert_eq!(index.occurrences(&[3, 4]), Vec::<usize>::new());
		assert_eq!(index.occurrences(&[4, 5]), vec![1]);
	}
}
