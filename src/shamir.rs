//! Shamir secret sharing over GF(2^8) with polynomial 0x11B, byte-wise, in the layout
//! sops (HashiCorp Vault's `shamir`) uses: each share is the y-values followed by one
//! x-coordinate byte (x = group index + 1).
//!
//! CONTRACT: `split(secret, parts, threshold) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError>`
//! (parts in 2..=255, threshold in 2..=parts); `combine(shares) -> Result<Zeroizing<Vec<u8>>,
//! ShamirError>` (rejects duplicate x, mismatched lengths, fewer than 2 shares).

use zeroize::Zeroizing;

/// Errors splitting or combining shares.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShamirError {
    /// Bad parts/threshold.
    #[error("invalid Shamir parameters: {0}")]
    Parameters(String),
    /// Shares that cannot be combined.
    #[error("cannot combine Shamir shares: {0}")]
    Shares(String),
}

/// Split `secret` into `parts` shares, any `threshold` of which rebuild it.
pub fn split(
    _secret: &[u8],
    _parts: usize,
    _threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    todo!()
}

/// Rebuild the secret from shares (Lagrange interpolation at x = 0).
pub fn combine(_shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    todo!()
}
