//! Password hashes (argon2id), API tokens and random ids.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use sha2::{Digest, Sha256};

/// The argon2id hash (PHC string) of `password` with the crate's default
/// cost (19 MiB, 2 passes), as `server hash-password` prints it.
pub fn hash(password: &str) -> Result<String, String> {
    hash_with(password, Params::DEFAULT_M_COST, Params::DEFAULT_T_COST)
}

/// The argon2id hash of `password` costing `memory_kib` KiB and `passes`
/// passes (tests use the cheapest, 8 KiB and 1 pass, to stay fast; the
/// hash records its parameters, so verifying needs nothing else).
pub fn hash_with(password: &str, memory_kib: u32, passes: u32) -> Result<String, String> {
    let params = Params::new(memory_kib, passes, 1, None)
        .map_err(|e| format!("invalid argon2 cost parameters: {e}"))?;
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw)
        .map_err(|e| format!("the system random number generator failed: {e}"))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_with_salt(password.as_bytes(), &raw)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Accepts argon2id PHC strings only.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("not a password hash ({e})"))?;
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return Err(format!("{} is not argon2id", parsed.algorithm));
    }
    Ok(())
}

/// Whether `password` matches `hash` (a PHC string checked by
/// [`check_hash`]). CPU-heavy: call it off the async threads.
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// `bytes` random bytes from the OS, hex-encoded.
pub fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| format!("the system random number generator failed: {e}"))?;
    Ok(hex::encode(buf))
}

/// The digest an API token is stored as (SHA-256, hex): tokens are 256
/// random bits, so a fast hash is enough to make the stored form useless
/// to a reader of the configuration.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new API token and its digest for the configuration.
pub fn new_token() -> Result<(String, String), String> {
    let token = format!("clt_{}", random_hex(32)?);
    let digest = token_digest(&token);
    Ok((token, digest))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(Params::MIN_M_COST, 1, 1, None).unwrap()
    }

    #[test]
    fn the_default_cost_is_argon2id_19_mib_2_passes() {
        let h = hash("pw").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("pw", &h));
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_with("correct horse", Params::MIN_M_COST, 1).unwrap();
        assert!(check_hash(&h).is_ok(), "{h}");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horse!", &h));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn other_algorithms_and_garbage_are_refused() {
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, cheap())
            .hash_password_with_salt(b"pw", b"saltsaltsaltsalt")
            .unwrap()
            .to_string();
        assert!(check_hash(&argon2i).unwrap_err().contains("not argon2id"));
        assert!(check_hash("plaintext").is_err());
    }

    #[test]
    fn tokens_are_random_and_stored_as_their_digest() {
        let (a, da) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("clt_") && a.len() == 68, "{a}");
        assert_eq!(token_digest(&a), da);
        assert!(!da.contains(&a[4..]));
    }
}
