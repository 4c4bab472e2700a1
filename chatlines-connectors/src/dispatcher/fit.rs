//! Where a reply is checked against what the messenger can carry
//! ([`Capabilities`]) before it is sent: converted when it can be (an
//! attachment with a web address becomes a link in the text), or refused
//! with a reason that says what did not fit.

use chatlines_core::{Body, Capabilities};
use std::borrow::Cow;

/// The body to send for `body` through a messenger with `caps`, or why it
/// cannot be sent at all (a permanent failure: no retry would fit it).
pub(super) fn fit<'a>(
    body: &'a Body,
    caps: &Capabilities,
    attachments_as_links: bool,
) -> Result<Cow<'a, Body>, String> {
    if body.text.is_empty() && body.attachments.is_empty() {
        return Err("nothing to send: the reply has no text and no attachments".to_owned());
    }
    let mut out = Cow::Borrowed(body);
    if !body.attachments.is_empty() && !caps.media {
        let links = attachments_as_links
            && body
                .attachments
                .iter()
                .all(|a| a.blob.starts_with("https://") || a.blob.starts_with("http://"));
        if !links {
            let names: Vec<String> = body
                .attachments
                .iter()
                .map(|a| format!("{} ({})", a.name, a.mime_type))
                .collect();
            return Err(format!(
                "the messenger cannot carry attachments ({}); not sent",
                names.join(", ")
            ));
        }
        let mut text = body.text.clone();
        for a in &body.attachments {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("{}: {}", a.name, a.blob));
        }
        out = Cow::Owned(Body::text(text));
    }
    if !out.text.is_empty() && !caps.text {
        let as_caption = !out.attachments.is_empty() && caps.media && caps.captions;
        if !as_caption {
            return Err("the messenger cannot carry text; not sent".to_owned());
        }
    }
    if let Some(max) = caps.max_text_chars {
        let chars = out.text.chars().count();
        if chars > max {
            return Err(format!(
                "the text has {chars} characters; the messenger carries at most {max}; not sent"
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatlines_core::Attachment;

    fn caps(media: bool, max: Option<usize>) -> Capabilities {
        let mut c = Capabilities::default();
        c.text = true;
        c.media = media;
        c.captions = media;
        c.max_text_chars = max;
        c
    }

    fn with_file(text: &str, blob: &str) -> Body {
        let mut b = Body::text(text);
        b.attachments
            .push(Attachment::new("invoice.pdf", "application/pdf", 10, blob));
        b
    }

    #[test]
    fn what_fits_goes_unchanged() {
        let b = with_file("see attached", "blob-1");
        assert_eq!(
            fit(&b, &caps(true, Some(100)), true).ok(),
            Some(Cow::Borrowed(&b))
        );
    }

    #[test]
    fn attachments_become_links_only_when_they_have_a_web_address() {
        let b = with_file("see attached", "https://files.example/invoice.pdf");
        let out = fit(&b, &caps(false, None), true).expect("converted");
        assert_eq!(
            out.text,
            "see attached\ninvoice.pdf: https://files.example/invoice.pdf"
        );
        assert!(out.attachments.is_empty());

        let err = fit(&b, &caps(false, None), false).expect_err("conversion off");
        assert!(
            err.contains("cannot carry attachments (invoice.pdf (application/pdf))"),
            "{err}"
        );
        let internal = with_file("", "blob-1");
        let err = fit(&internal, &caps(false, None), true).expect_err("no address");
        assert!(err.contains("cannot carry attachments"), "{err}");
    }

    #[test]
    fn too_long_and_empty_texts_are_refused() {
        let err = fit(&Body::text("ééééé"), &caps(true, Some(4)), true).expect_err("long");
        assert!(
            err.contains("5 characters") && err.contains("at most 4"),
            "{err}"
        );
        assert!(fit(&Body::text("éééé"), &caps(true, Some(4)), true).is_ok());
        let err = fit(&Body::default(), &caps(true, None), true).expect_err("empty");
        assert!(err.contains("nothing to send"), "{err}");
        let mut no_text = caps(false, None);
        no_text.text = false;
        let err = fit(&Body::text("hi"), &no_text, true).expect_err("no text");
        assert!(err.contains("cannot carry text"), "{err}");
    }
}
