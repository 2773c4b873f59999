//! The MNEMO token: symbol, decimals and the amounts derived from them.

use crate::Balance;

/// Ticker shown by wallets and Polkadot.js apps.
pub const SYMBOL: &str = "MNEMO";
/// Number of decimals: 1 MNEMO = 10^12 units.
pub const DECIMALS: u8 = 12;
/// One MNEMO in the smallest unit.
pub const UNIT: Balance = 1_000_000_000_000;
/// A thousandth of a MNEMO.
pub const MILLI_UNIT: Balance = UNIT / 1_000;
/// A millionth of a MNEMO.
pub const MICRO_UNIT: Balance = UNIT / 1_000_000;
/// The minimum balance an account must keep to exist: 0.001 MNEMO.
pub const EXISTENTIAL_DEPOSIT: Balance = MILLI_UNIT;
/// SS58 address prefix (42 = the generic Substrate prefix, until a registered one is assigned).
pub const SS58_PREFIX: u16 = 42;

/// Deposit for storing `items` items and `bytes` bytes on chain.
pub const fn deposit(items: u32, bytes: u32) -> Balance {
	(items as Balance) * 20 * UNIT / 100 + (bytes as Balance) * 100 * MICRO_UNIT
}
