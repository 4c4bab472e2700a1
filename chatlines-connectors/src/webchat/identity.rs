//! Who a visitor is: anonymous visitors carry a signed token (a cookie,
//! or a header where third-party cookies are blocked); a host's signed-in
//! users are proven by an HMAC of their user id with the widget secret.

use crate::signing::hmac_sha256;
use subtle::ConstantTimeEq;

/// The cookie holding the visitor token.
pub const COOKIE: &str = "chatlines_webchat";
/// The header a widget may send the visitor token in instead of the
/// cookie.
pub const TOKEN_HEADER: &str = "X-Webchat-Token";

const TOKEN_CONTEXT: &[u8] = b"chatlines-webchat-visitor.";
const ANON: &str = "anon:";

/// The longest host user id accepted, in bytes.
pub const MAX_USER_ID: usize = 128;

/// An authenticated visitor.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Visitor {
    key: String,
}

impl Visitor {
    /// A new anonymous visitor with a random id.
    pub fn anonymous() -> Self {
        Self {
            key: format!("{ANON}{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// A host's signed-in user, proven by `user_hash` (hex HMAC-SHA256 of
    /// `user_id` with the widget secret, as the host's server computes
    /// it). `None` when the hash does not match or the id is unusable.
    pub fn identified(secret: &[u8], user_id: &str, user_hash: &str) -> Option<Self> {
        if user_id.is_empty()
            || user_id.starts_with(ANON)
            || user_id.len() > MAX_USER_ID
            || user_id.chars().any(char::is_control)
        {
            return None;
        }
        let expected = hex::encode(hmac_sha256(secret, &[user_id.as_bytes()]));
        let given = user_hash.trim().to_ascii_lowercase();
        if expected.as_bytes().ct_eq(given.as_bytes()).into() {
            Some(Self {
                key: user_id.to_owned(),
            })
        } else {
            None
        }
    }

    /// The visitor's id on the source (the contact's external user):
    /// `anon:<hex>` for an anonymous visitor, the host's user id for a
    /// signed identity (which may not start with `anon:`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the host vouched for this visitor (a signed identity).
    pub fn is_identified(&self) -> bool {
        !self.key.starts_with(ANON)
    }

    /// A name operators see: the host's user id, or "Visitor" and the
    /// start of the anonymous id.
    pub fn display_name(&self) -> String {
        match self.key.strip_prefix(ANON) {
            None => self.key.clone(),
            Some(id) => format!("Visitor {}", id.get(..6).unwrap_or(id)),
        }
    }

    /// The signed token naming this visitor.
    pub fn token(&self, secret: &[u8]) -> String {
        let mac = hmac_sha256(secret, &[TOKEN_CONTEXT, self.key.as_bytes()]);
        format!("{}.{}", hex::encode(self.key.as_bytes()), hex::encode(mac))
    }

    /// The visitor a token names, if the token was signed with `secret`.
    pub fn from_token(secret: &[u8], token: &str) -> Option<Self> {
        let (key, mac) = token.trim().split_once('.')?;
        let key = String::from_utf8(hex::decode(key).ok()?).ok()?;
        let mac = hex::decode(mac).ok()?;
        let expected = hmac_sha256(secret, &[TOKEN_CONTEXT, key.as_bytes()]);
        if !bool::from(expected.as_slice().ct_eq(&mac)) {
            return None;
        }
        (!key.is_empty()).then_some(Self { key })
    }
}

/// The visitor token a request carries: the token header, else the
/// cookie.
pub fn request_token<'a>(header: Option<&'a str>, cookie: Option<&'a str>) -> Option<&'a str> {
    if let Some(t) = header.filter(|t| !t.trim().is_empty()) {
        return Some(t);
    }
    cookie?.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_only_with_their_secret() {
        let v = Visitor::anonymous();
        let t = v.token(b"s1");
        assert_eq!(Visitor::from_token(b"s1", &t), Some(v.clone()));
        assert_eq!(Visitor::from_token(b"s2", &t), None);
        let other = Visitor::anonymous().token(b"s1");
        let (key, _) = other.split_once('.').unwrap_or_default();
        let (_, mac) = t.split_once('.').unwrap_or_default();
        assert_eq!(Visitor::from_token(b"s1", &format!("{key}.{mac}")), None);
        for junk in ["", ".", "zz.zz", "00.00", "a"] {
            assert_eq!(Visitor::from_token(b"s1", junk), None, "{junk}");
        }
    }

    #[test]
    fn identities_need_the_hosts_hash() {
        let hash = hex::encode(hmac_sha256(b"s1", &[b"cust-7"]));
        let v = Visitor::identified(b"s1", "cust-7", &hash);
        assert_eq!(v.as_ref().map(Visitor::key), Some("cust-7"));
        assert!(v.is_some_and(|v| v.is_identified()));
        assert_eq!(Visitor::identified(b"s1", "cust-8", &hash), None);
        assert_eq!(Visitor::identified(b"s2", "cust-7", &hash), None);
        assert_eq!(Visitor::identified(b"s1", "", ""), None);
        let anon = hex::encode(hmac_sha256(b"s1", &[b"anon:1"]));
        assert_eq!(Visitor::identified(b"s1", "anon:1", &anon), None);
    }

    #[test]
    fn the_header_wins_over_the_cookie() {
        let cookie = format!("a=1; {COOKIE}=from-cookie; b=2");
        assert_eq!(request_token(None, Some(&cookie)), Some("from-cookie"));
        assert_eq!(
            request_token(Some("from-header"), Some(&cookie)),
            Some("from-header")
        );
        assert_eq!(request_token(None, Some("a=1")), None);
    }
}
