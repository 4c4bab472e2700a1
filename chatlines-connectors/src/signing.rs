//! HMAC-SHA256 signatures as messengers use them (`sha256=<hex>`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    SigningKey::new(key).hmac_sha256(parts)
}

/// An HMAC-SHA256 key made ready once (its padded key blocks hashed), for
/// signing and checking many messages under one secret without that setup
/// each time. Gives the same results as [`hmac_sha256`],
/// [`signature_header`] and [`verify_signature_header`] with the same key.
///
/// ```
/// use chatlines_connectors::signing::{signature_header, SigningKey};
/// let key = SigningKey::new(b"key");
/// assert_eq!(key.signature_header(&[b"body"]), signature_header(b"key", &[b"body"]));
/// assert_eq!(format!("{key:?}"), "SigningKey(***)");
/// ```
#[derive(Clone)]
pub struct SigningKey {
    /// `None` only if the MAC refused the key, which HMAC never does (it
    /// takes keys of any length); every MAC is all zeros then.
    mac: Option<HmacSha256>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Prepares `key`.
    pub fn new(key: &[u8]) -> Self {
        Self {
            mac: HmacSha256::new_from_slice(key).ok(),
        }
    }

    /// HMAC-SHA256 of the concatenated `parts`.
    pub fn hmac_sha256(&self, parts: &[&[u8]]) -> [u8; 32] {
        let Some(mut mac) = self.mac.clone() else {
            return [0; 32];
        };
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The header value `sha256=<lowercase hex>` for `parts`.
    pub fn signature_header(&self, parts: &[&[u8]]) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256=");
        for byte in self.hmac_sha256(parts) {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// Checks a `sha256=<hex>` header against the HMAC of `parts`, in
    /// constant time. Any malformed header is simply a mismatch.
    pub fn verify_signature_header(&self, parts: &[&[u8]], header: &str) -> bool {
        let Some(hex_part) = header.trim().strip_prefix("sha256=") else {
            return false;
        };
        let mut given = [0u8; 32];
        if hex::decode_to_slice(hex_part, &mut given).is_err() {
            return false;
        }
        let expected = self.hmac_sha256(parts);
        bool::from(expected.ct_eq(&given))
    }
}

/// The header value `sha256=<lowercase hex>` for `parts` under `key`.
///
/// ```
/// let sig = chatlines_connectors::signing::signature_header(b"key", &[b"body"]);
/// assert!(sig.starts_with("sha256="));
/// assert!(chatlines_connectors::signing::verify_signature_header(b"key", &[b"body"], &sig));
/// ```
pub fn signature_header(key: &[u8], parts: &[&[u8]]) -> String {
    SigningKey::new(key).signature_header(parts)
}

/// Checks a `sha256=<hex>` header against the HMAC of `parts`, in constant
/// time. Any malformed header is simply a mismatch.
pub fn verify_signature_header(key: &[u8], parts: &[&[u8]], header: &str) -> bool {
    SigningKey::new(key).verify_signature_header(parts, header)
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

    #[test]
    fn a_prepared_key_signs_as_the_functions_do() {
        // Keys shorter and longer than SHA-256's 64-byte block.
        for key in [&b""[..], b"k", &[7u8; 64], &[9u8; 200]] {
            let prepared = SigningKey::new(key);
            for parts in [&[&b""[..]][..], &[b"body"], &[b"12", b".", b"{}"]] {
                let h = signature_header(key, parts);
                assert_eq!(prepared.signature_header(parts), h);
                assert_eq!(prepared.hmac_sha256(parts), hmac_sha256(key, parts));
                assert!(prepared.verify_signature_header(parts, &h));
                assert!(!prepared.verify_signature_header(parts, &h[7..]));
            }
            // Used many times, the key gives the same answer each time.
            assert_eq!(
                prepared.signature_header(&[b"x"]),
                prepared.signature_header(&[b"x"])
            );
        }
        assert_eq!(
            hex::encode(SigningKey::new(b"Jefe").hmac_sha256(&[b"what do ya want for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
