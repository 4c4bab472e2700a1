//! 100,000 generated bodies per connector: `parse_webhook` never panics,
//! and whatever it accepts is a well-formed inbound message.
#![cfg(all(feature = "telegram", feature = "whatsapp", feature = "webhook"))]

use chatlines_connectors::generic::{
    GenericConfig, GenericWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use chatlines_connectors::signing::signature_header;
use chatlines_connectors::telegram::{TelegramConfig, TelegramMessenger, SECRET_HEADER};
use chatlines_connectors::whatsapp::{
    WhatsAppConfig, WhatsAppMessenger, SIGNATURE_HEADER as WA_SIG,
};
use chatlines_core::{ManualClock, Messenger, ParsedWebhook, WebhookRequest};
use proptest::prelude::*;
use proptest::sample::Index;
use std::sync::Arc;

const CASES: u32 = 100_000;

const STRINGS: &[&str] = &[
    "\"\"",
    "\" \"",
    "\"a\"",
    "\"0\"",
    "\"1700000000\"",
    "\"image/png\"",
    "\"text\"",
    "\"image\"",
    "\"document\"",
    "\"read\"",
    "\"failed\"",
    "\"messages\"",
    "\"\\u0000\\ud800\"",
    "\"\u{1F600}\u{202E}\"",
    "\"2024-05-01T10:00:00Z\"",
    "1e999",
    "-0",
    "18446744073709551616",
    "{\"id\":1}",
    "[1,\"x\",null]",
];

/// A JSON value of any type, cheap to make.
fn leaf() -> impl Strategy<Value = String> {
    (any::<u8>(), any::<i64>()).prop_map(|(k, n)| match k % 10 {
        0 => "null".to_owned(),
        1 => (n % 2 == 0).to_string(),
        2 => "[]".to_owned(),
        3 => "{}".to_owned(),
        4 | 5 => n.to_string(),
        6 => format!("{}.5", n % 1000),
        7 => format!("\"s{}\"", n % 100),
        _ => STRINGS[usize::from(k) % STRINGS.len()].to_owned(),
    })
}

fn fill(template: &str, leaves: &[String]) -> Vec<u8> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut i = 0;
    for c in template.chars() {
        if c == '@' {
            out.push_str(&leaves[i % leaves.len()]);
            i += 1;
        } else {
            out.push(c);
        }
    }
    out.into_bytes()
}

/// Random bytes, templates with random values, and byte-level mutations
/// of templates.
fn bodies(templates: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let filled = (0..templates.len(), proptest::collection::vec(leaf(), 8))
        .prop_map(move |(t, leaves)| fill(templates[t], &leaves));
    let mutated = (
        0..templates.len(),
        proptest::collection::vec(leaf(), 8),
        proptest::collection::vec((any::<Index>(), any::<u8>()), 1..4),
        any::<Index>(),
    )
        .prop_map(move |(t, leaves, edits, cut)| {
            let mut b = fill(templates[t], &leaves);
            for (at, byte) in edits {
                let i = at.index(b.len());
                b[i] = byte;
            }
            let keep = cut.index(b.len() + 1);
            if keep > b.len() / 2 {
                b.truncate(keep);
            }
            b
        });
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..96),
        4 => filled,
        3 => mutated,
    ]
}

fn check(parsed: &ParsedWebhook) {
    for m in &parsed.messages {
        assert!(!m.external_message_id.is_empty());
        assert!(!m.external_user.is_empty());
        assert!(!m.display_name.trim().is_empty());
        for a in &m.body.attachments {
            assert!(!a.name.is_empty() && !a.mime_type.is_empty());
        }
    }
}

const TELEGRAM: &[&str] = &[
    r#"{"update_id":@,"message":{"message_id":@,"from":{"id":@,"is_bot":@,"first_name":@,"last_name":@,"username":@},"chat":{"id":@},"date":@,"text":@,"caption":@,"photo":@}}"#,
    r#"{"update_id":1,"message":{"message_id":1,"from":{"id":1},"chat":{"id":1},"caption":@,"photo":[{"file_id":@,"width":@,"height":@,"file_size":@}],"document":{"file_id":@,"file_name":@,"mime_type":@,"file_size":@}}}"#,
    r#"{"update_id":@,"edited_message":@,"callback_query":@,"message":@}"#,
    r#"{"update_id":5,"message":{"message_id":@,"from":@,"chat":@,"text":"hi","document":@}}"#,
];

const WHATSAPP: &[&str] = &[
    r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"contacts":[{"profile":{"name":@},"wa_id":@}],"messages":[{"from":@,"id":@,"timestamp":@,"type":"text","text":{"body":@}}]}}]}]}"#,
    r#"{"entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1","id":"w","type":@,"image":{"id":@,"mime_type":@,"caption":@},"document":{"id":@,"filename":@,"mime_type":@}}]}}]}]}"#,
    r#"{"entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":@,"status":@,"timestamp":@},{"id":"x","status":"read","errors":@}]}}]}]}"#,
    r#"{"entry":@,"object":@}"#,
    r#"{"entry":[{"changes":[{"field":@,"value":@}]},{"changes":@}]}"#,
];

const GENERIC: &[&str] = &[
    r#"{"messages":[{"id":@,"user":@,"name":@,"reply_to":@,"text":@,"sent_at":@}]}"#,
    r#"{"messages":[{"id":"a","user":"b","text":"c","attachments":[{"name":@,"mime_type":@,"size":@,"url":@}]}],"statuses":[{"id":@,"status":@,"at":@}]}"#,
    r#"{"messages":@,"statuses":@}"#,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn telegram_parse_never_panics(body in bodies(TELEGRAM)) {
        thread_local! {
            static TG: TelegramMessenger =
                TelegramMessenger::new(TelegramConfig::new("1:T", "s")).expect("config");
        }
        let headers = vec![(SECRET_HEADER.to_owned(), "s".to_owned())];
        TG.with(|tg| {
            if let Ok(p) = tg.parse_webhook(WebhookRequest::new("POST", &headers, "", &body)) {
                check(&p);
                for m in &p.messages {
                    assert!(m.external_message_id.contains(':'));
                    assert!(!m.body.text.trim().is_empty() || !m.body.attachments.is_empty());
                }
            }
        });
    }

    #[test]
    fn whatsapp_parse_never_panics(body in bodies(WHATSAPP)) {
        thread_local! {
            static WA: WhatsAppMessenger =
                WhatsAppMessenger::new(WhatsAppConfig::new("P", "A", "S", "V")).expect("config");
        }
        let headers = vec![(WA_SIG.to_owned(), signature_header(b"S", &[&body]))];
        WA.with(|wa| {
            if let Ok(p) = wa.parse_webhook(WebhookRequest::new("POST", &headers, "", &body)) {
                check(&p);
            }
        });
    }

    #[test]
    fn generic_parse_never_panics(body in bodies(GENERIC)) {
        thread_local! {
            static HOOK: GenericWebhook = GenericWebhook::new(GenericConfig::new("k", "http://127.0.0.1:9"))
                .expect("config")
                .with_clock(Arc::new(ManualClock::new(
                    chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("ts"),
                )));
        }
        let ts = "1700000000";
        let headers = vec![
            (TIMESTAMP_HEADER.to_owned(), ts.to_owned()),
            (SIGNATURE_HEADER.to_owned(), signature_header(b"k", &[ts.as_bytes(), b".", &body])),
        ];
        HOOK.with(|h| {
            if let Ok(p) = h.parse_webhook(WebhookRequest::new("POST", &headers, "", &body)) {
                check(&p);
            }
        });
    }
}
