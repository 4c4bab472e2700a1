//! HMAC-SHA256 signatures as messengers use them (`sha256=<hex>`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // `new_from_slice` accepts keys of any length for HMAC.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The header value `sha256=<lowercase hex>` for `parts` under `key`.
///
/// ```
/// let sig = chatlines_connectors::signing::signature_header(b"key", &[b"body"]);
/// assert!(sig.starts_with("sha256="));
/// assert!(chatlines_connectors::signing::verify_signature_header(b"key", &[b"body"], &sig));
/// ```
pub fn signature_header(key: &[u8], parts: &[&[u8]]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(key, parts)))
}

/// Checks a `sha256=<hex>` header against the HMAC of `parts`, in constant
/// time. Any malformed header is simply a mismatch.
pub fn verify_signature_header(key: &[u8], parts: &[&[u8]], header: &str) -> bool {
    let Some(hex_part) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let mut given = [0u8; 32];
    if hex::decode_to_slice(hex_part, &mut given).is_err() {
        return false;
    }
    let expected = hmac_sha256(key, parts);
    bool::from(expected.ct_eq(&given))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn rejects_tampering() {
        let h = signature_header(b"k", &[b"body"]);
        assert!(verify_signature_header(b"k", &[b"body"], &h));
        assert!(verify_signature_header(b"k", &[b"bo", b"dy"], &h));
        assert!(!verify_signature_header(b"k", &[b"body!"], &h));
        assert!(!verify_signature_header(b"other", &[b"body"], &h));
        assert!(!verify_signature_header(b"k", &[b"body"], &h[7..]));
        assert!(!verify_signature_header(b"k", &[b"body"], "sha256=zz"));
        assert!(!verify_signature_header(b"k", &[b"body"], ""));
    }
}
