//! The server configuration reaches the connectors: the Telegram groups
//! opt-in, read from TOML, decides whether a group message becomes a
//! conversation.

use chatlines_connectors::blobs::{BlobStore, FsBlobStore};
use chatlines_connectors::telegram::SECRET_HEADER;
use chatlines_core::{Messenger, WebhookRequest};
use chatlines_examples::config::ConnectorSpec;
use chatlines_examples::host::{connector, Connector};
use chatlines_examples::ServerConfig;
use std::collections::BTreeMap;
use std::sync::Arc;

fn config(extra: &str) -> ServerConfig {
    ServerConfig::from_toml(&format!(
        r#"
admin = "root"
database = ":memory:"
[directory]
admins = ["root"]
[[lines]]
name = "Support"
operators = "support"
[[sources]]
name = "bot"
display_name = "@acme_bot"
line = "Support"
connector = {{ kind = "telegram", bot_token_env = "TG_TOKEN", webhook_secret_env = "TG_SECRET"{extra} }}
"#
    ))
    .expect("the configuration parses")
}

/// What the bot of `config` makes of a message in a group chat: how many
/// messages it stores and which kinds it ignores.
fn group_message_through(config: &ServerConfig) -> (usize, Vec<String>) {
    let secrets: BTreeMap<String, String> = [("TG_TOKEN", "1:T"), ("TG_SECRET", "s3cret")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let blobs: Arc<dyn BlobStore> = Arc::new(FsBlobStore::new(
        std::env::temp_dir().join("chatlines-server-config-test-unused"),
    ));
    let Connector::Telegram(tg) =
        connector(&config.sources[0], &secrets, &blobs).expect("the connector builds")
    else {
        panic!("a Telegram connector");
    };
    let body = br#"{"update_id": 5, "message": {"message_id": 9, "date": 1700000000,
        "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
        "chat": {"id": -100, "type": "group", "title": "Shop fans"}, "text": "hi all"}}"#;
    let headers = vec![(SECRET_HEADER.to_owned(), "s3cret".to_owned())];
    let parsed = tg
        .parse_webhook(WebhookRequest::new("POST", &headers, "", body))
        .expect("a valid update");
    (
        parsed.messages.len(),
        parsed.ignored.into_iter().map(|i| i.kind).collect(),
    )
}

#[test]
fn telegram_groups_are_off_unless_the_configuration_opts_in() {
    let default = config("");
    assert!(matches!(
        default.sources[0].connector,
        ConnectorSpec::Telegram { groups: false, .. }
    ));
    assert_eq!(
        group_message_through(&default),
        (0, vec!["group_message".to_owned()]),
        "by default a group message is ignored and counted"
    );

    let opted_in = config(", groups = true");
    assert!(matches!(
        opted_in.sources[0].connector,
        ConnectorSpec::Telegram { groups: true, .. }
    ));
    assert_eq!(
        group_message_through(&opted_in),
        (1, vec![]),
        "with groups on, the group message is a conversation's message"
    );
}

#[test]
fn a_misspelt_groups_flag_is_refused() {
    let err = ServerConfig::from_toml(
        r#"
[[lines]]
name = "Support"
operators = "support"
[[sources]]
name = "bot"
display_name = "@acme_bot"
line = "Support"
connector = { kind = "telegram", bot_token_env = "T", webhook_secret_env = "S", group = true }
"#,
    )
    .expect_err("an unknown field");
    assert!(err.to_string().contains("group"), "{err}");
}
