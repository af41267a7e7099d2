//! Shamir secret sharing over GF(2^8) with polynomial 0x11B, byte-wise, in the layout
//! sops (HashiCorp Vault's `shamir`) uses: each share is the y-values followed by one
//! x-coordinate byte (x = group index + 1).
//!
//! CONTRACT: `split(secret, parts, threshold) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError>`
//! (parts in 2..=255, threshold in 2..=parts); `combine(shares) -> Result<Zeroizing<Vec<u8>>,
//! ShamirError>` (rejects duplicate x, mismatched lengths, fewer than 2 shares).
//!
//! Field arithmetic is branch-free and table-free (no secret-dependent memory access).

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

/// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (0x11B), constant time.
fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0u8;
    for _ in 0..8 {
        r ^= a & 0u8.wrapping_sub(b & 1);
        let hi = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1B & hi);
        b >>= 1;
    }
    r
}

/// Multiplicative inverse (a^254); 0 maps to 0.
fn gf_inv(a: u8) -> u8 {
    // a^254 = a^(2+4+8+16+32+64+128)
    let mut result = 1u8;
    let mut p = gf_mul(a, a); // a^2
    for _ in 0..7 {
        result = gf_mul(result, p);
        p = gf_mul(p, p);
    }
    result
}

/// Evaluate the polynomial with coefficients `coeffs` (constant term first) at `x`.
fn eval(coeffs: &[u8], x: u8) -> u8 {
    coeffs.iter().rev().fold(0u8, |acc, &c| gf_mul(acc, x) ^ c)
}

/// Split `secret` into `parts` shares, any `threshold` of which rebuild it. Share `i`
/// (0-based) has x-coordinate `i + 1`, stored as its last byte.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    if !(2..=255).contains(&parts) {
        return Err(ShamirError::Parameters(format!(
            "the number of parts must be between 2 and 255, got {parts}"
        )));
    }
    if !(2..=parts).contains(&threshold) {
        return Err(ShamirError::Parameters(format!(
            "the threshold must be between 2 and the number of parts ({parts}), got {threshold}"
        )));
    }
    if secret.is_empty() {
        return Err(ShamirError::Parameters(
            "cannot split an empty secret".into(),
        ));
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (0..parts)
        .map(|_| Zeroizing::new(Vec::with_capacity(secret.len() + 1)))
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for &byte in secret {
        getrandom::getrandom(&mut coeffs[1..]).map_err(|e| {
            ShamirError::Parameters(format!("the OS random number generator failed: {e}"))
        })?;
        coeffs[0] = byte;
        for (i, share) in shares.iter_mut().enumerate() {
            // parts <= 255, so i + 1 fits in a byte.
            share.push(eval(&coeffs, (i + 1) as u8));
        }
    }
    for (i, share) in shares.iter_mut().enumerate() {
        share.push((i + 1) as u8);
    }
    Ok(shares)
}

/// Rebuild the secret from shares (Lagrange interpolation at x = 0).
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    if shares.len() < 2 {
        return Err(ShamirError::Shares(format!(
            "at least 2 shares are needed, got {}",
            shares.len()
        )));
    }
    let len = shares.first().map_or(0, |s| s.len());
    if len < 2 {
        return Err(ShamirError::Shares("a share is too short".into()));
    }
    if shares.iter().any(|s| s.len() != len) {
        return Err(ShamirError::Shares(
            "the shares have different lengths".into(),
        ));
    }
    let mut xs = Vec::with_capacity(shares.len());
    for s in shares {
        let x = s.last().copied().unwrap_or(0);
        if x == 0 {
            return Err(ShamirError::Shares("a share has x-coordinate 0".into()));
        }
        if xs.contains(&x) {
            return Err(ShamirError::Shares(format!(
                "two shares have the same x-coordinate {x}"
            )));
        }
        xs.push(x);
    }
    // Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_i + x_j)  (subtraction is xor).
    let basis: Vec<u8> = xs
        .iter()
        .enumerate()
        .map(|(i, &xi)| {
            xs.iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .fold(1u8, |acc, (_, &xj)| {
                    gf_mul(acc, gf_mul(xj, gf_inv(xi ^ xj)))
                })
        })
        .collect();
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (k, out) in secret.iter_mut().enumerate() {
        *out = shares.iter().zip(&basis).fold(0u8, |acc, (s, &l)| {
            acc ^ gf_mul(s.get(k).copied().unwrap_or(0), l)
        });
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn field_known_answers() {
        // FIPS-197 §4.2 examples.
        assert_eq!(gf_mul(0x57, 0x83), 0xC1);
        assert_eq!(gf_mul(0x57, 0x13), 0xFE);
        assert_eq!(gf_inv(0x53), 0xCA);
        assert_eq!(gf_inv(0), 0);
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1, "inverse of {a}");
        }
    }

    /// Shares of the corpus case `shamir-key-groups` (3 groups, threshold 2), unwrapped with
    /// `age -d -i keys/{alice,bob,carol}.txt` from its `enc.yaml`.
    const CORPUS_SHARES: [&str; 3] = [
        "ec3b39e8692db9985452c0bd47edf7862cb96428edfd654969d67e7a78eadada01",
        "1c4de374cb9753383651c607e1408dedd50a7a3a788e0a8e5b65d03202026fec02",
        "4c965c005c08fc58e150c49883d2523d829270340b562f3abcfd430add5af5fe03",
    ];

    #[test]
    fn corpus_shares_rebuild_the_same_key_from_every_pair() {
        let shares: Vec<Vec<u8>> = CORPUS_SHARES.iter().map(|s| hex(s)).collect();
        let k01 = combine(&[&shares[0], &shares[1]]).unwrap();
        let k12 = combine(&[&shares[1], &shares[2]]).unwrap();
        let k20 = combine(&[&shares[2], &shares[0]]).unwrap();
        let all = combine(&[&shares[0], &shares[1], &shares[2]]).unwrap();
        assert_eq!(k01.len(), 32);
        assert_eq!(*k01, *k12);
        assert_eq!(*k01, *k20);
        assert_eq!(*k01, *all);
        // The key decrypts a value of that file (see cipher's tests for the full check).
        let key = crate::cipher::DataKey::from_slice(&k01).unwrap();
        let v = crate::cipher::decrypt_value(
            &key,
            "ENC[AES256_GCM,data:X0RRIQ4bsScDV40X9NZaONG0WUcMn75yWMpT,iv:GPK249Qtjf7uw0uRe5DGoAolGAQgQc2k09jMz0G2hCE=,tag:DR4ZU3WVFRm4ufjveYMkpg==,type:str]",
            "root_token:",
        )
        .unwrap();
        assert_eq!(
            v,
            crate::tree::Value::Str("hvs.CAESIJ-vault-root-token".into())
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        let s = split(b"secret", 3, 2).unwrap();
        assert!(matches!(combine(&[&s[0]]), Err(ShamirError::Shares(_))));
        assert!(matches!(
            combine(&[&s[0], &s[0]]),
            Err(ShamirError::Shares(_))
        ));
        assert!(matches!(
            combine(&[&s[0], &s[1][1..]]),
            Err(ShamirError::Shares(_))
        ));
        assert!(matches!(
            combine(&[&[1u8][..], &[2u8][..]]),
            Err(ShamirError::Shares(_))
        ));
        assert!(matches!(
            combine(&[&[1u8, 0][..], &[2u8, 1][..]]),
            Err(ShamirError::Shares(_))
        ));
        assert!(matches!(split(b"x", 1, 1), Err(ShamirError::Parameters(_))));
        assert!(matches!(
            split(b"x", 256, 2),
            Err(ShamirError::Parameters(_))
        ));
        assert!(matches!(split(b"x", 3, 4), Err(ShamirError::Parameters(_))));
        assert!(matches!(split(b"x", 3, 1), Err(ShamirError::Parameters(_))));
        assert!(matches!(split(b"", 3, 2), Err(ShamirError::Parameters(_))));
    }

    #[test]
    fn layout_is_y_values_then_x() {
        let s = split(&[7u8; 32], 3, 2).unwrap();
        for (i, share) in s.iter().enumerate() {
            assert_eq!(share.len(), 33);
            assert_eq!(share[32] as usize, i + 1);
        }
    }

    #[test]
    fn below_threshold_does_not_rebuild() {
        // With threshold 3, two shares interpolate a line: almost surely not the secret.
        let secret = [0x42u8; 32];
        let s = split(&secret, 3, 3).unwrap();
        let guess = combine(&[&s[0], &s[1]]).unwrap();
        assert_ne!(*guess, secret.to_vec());
    }

    fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
        (0u32..(1 << n))
            .filter(|m| m.count_ones() as usize == k)
            .map(|m| (0..n).filter(|i| m & (1 << i) != 0).collect())
            .collect()
    }

    proptest! {
        #[test]
        fn every_k_subset_rebuilds(secret in proptest::collection::vec(any::<u8>(), 1..40),
                                   n in 2usize..6, k_off in 0usize..5) {
            let k = 2 + k_off % (n - 1);
            let shares = split(&secret, n, k).unwrap();
            for size in k..=n {
                for subset in subsets(n, size) {
                    let picked: Vec<&[u8]> = subset.iter().map(|&i| &shares[i][..]).collect();
                    prop_assert_eq!(&*combine(&picked).unwrap(), &secret);
                }
            }
        }
    }
}
