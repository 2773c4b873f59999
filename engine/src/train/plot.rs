//! The loss-curve PNG written beside an adapter: per-step training loss (light) and its moving
//! average (dark) on a white canvas with axes and horizontal grid lines at round loss values.
//! No text: the numbers are in `metrics.json`.

use crate::error::{Error, Result};
use std::path::Path;

const W: usize = 640;
const H: usize = 360;
const MARGIN: usize = 30;

struct Canvas(Vec<u8>);

impl Canvas {
	fn set(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
		if (0..W as i64).contains(&x) && (0..H as i64).contains(&y) {
			let i = (y as usize * W + x as usize) * 3;
			self.0[i..i + 3].copy_from_slice(&rgb);
		}
	}

	/// A line by Bresenham's algorithm, `thick` pixels wide vertically.
	fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), rgb: [u8; 3], thick: i64) {
		let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
		let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
		let (mut x, mut y, mut err) = (x0, y0, dx + dy);
		loop {
			for t in 0..thick {
				self.set(x, y + t, rgb);
			}
			if x == x1 && y == y1 {
				break;
			}
			let e2 = 2 * err;
			if e2 >= dy {
				err += dy;
				x += sx;
			}
			if e2 <= dx {
				err += dx;
				y += sy;
			}
		}
	}
}

/// Renders the curve as PNG bytes.
pub fn render(losses: &[f64]) -> Result<Vec<u8>> {
	let mut c = Canvas(vec![255; W * H * 3]);
	let finite: Vec<f64> = losses.iter().copied().filter(|l| l.is_finite()).collect();
	let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &l| (a.min(l), b.max(l)));
	let (lo, hi) = if finite.is_empty() { (0.0, 1.0) } else { (lo.floor().min(lo), hi.ceil().max(lo + 1e-9)) };
	let (pw, ph) = ((W - 2 * MARGIN) as f64, (H - 2 * MARGIN) as f64);
	let px = |i: usize| MARGIN as i64 + (i as f64 / (losses.len().max(2) - 1) as f64 * pw) as i64;
	let py = |l: f64| (H - MARGIN) as i64 - ((l - lo) / (hi - lo) * ph) as i64;
	let mut g = lo.ceil();
	while g <= hi {
		c.line((MARGIN as i64, py(g)), ((W - MARGIN) as i64, py(g)), [225, 225, 225], 1);
		g += ((hi - lo) / 5.0).ceil().max(0.5);
	}
	let axis = [90, 90, 90];
	c.line((MARGIN as i64, MARGIN as i64), (MARGIN as i64, (H - MARGIN) as i64), axis, 1);
	c.line((MARGIN as i64, (H - MARGIN) as i64), ((W - MARGIN) as i64, (H - MARGIN) as i64), axis, 1);
	let mut avg = finite.first().copied().unwrap_or(0.0);
	let mut prev: Option<((i64, i64), (i64, i64))> = None;
	for (i, &l) in losses.iter().enumerate().filter(|(_, l)| l.is_finite()) {
		avg = 0.9 * avg + 0.1 * l;
		let (raw, smooth) = ((px(i), py(l)), (px(i), py(avg)));
		if let Some((r0, s0)) = prev {
			c.line(r0, raw, [150, 190, 240], 1);
			c.line(s0, smooth, [20, 70, 170], 2);
		}
		prev = Some((raw, smooth));
	}
	let mut out = Vec::new();
	let mut enc = png::Encoder::new(&mut out, W as u32, H as u32);
	enc.set_color(png::ColorType::Rgb);
	enc.set_depth(png::BitDepth::Eight);
	let mut w = enc.write_header().map_err(|e| Error::Internal(format!("png: {e}")))?;
	w.write_image_data(&c.0).map_err(|e| Error::Internal(format!("png: {e}")))?;
	w.finish().map_err(|e| Error::Internal(format!("png: {e}")))?;
	Ok(out)
}

/// Writes the curve to `path`.
pub fn loss_curve(losses: &[f64], path: &Path) -> Result<()> {
	std::fs::write(path, render(losses)?).map_err(Error::io(path))
}

#[cfg(test)]
mod tests {
	#[test]
	fn renders_a_png_even_for_degenerate_input() {
		for losses in [vec![], vec![2.0], vec![5.0, 4.0, 3.5, f64::NAN, 3.0]] {
			let png = super::render(&losses).unwrap();
			assert_eq!(&png[1..4], b"PNG");
		}
	}
}
