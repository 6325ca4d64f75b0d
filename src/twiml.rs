//! A typed TwiML builder.
//!
//! Every answer to a voice webhook is built from these types and written by
//! `quick-xml`, which escapes text and attribute values. On top of escaping,
//! characters that XML 1.0 forbids (control characters a hostile transcript
//! may carry) are dropped, so whatever a caller says, the document stays
//! well-formed. No XML is concatenated by hand anywhere in frontdesk.

use std::borrow::Cow;

use quick_xml::{
    Writer,
    events::{BytesDecl, BytesText, Event},
};

/// A `<Say>` verb.
#[derive(Debug, Clone, PartialEq)]
pub struct Say {
    /// What is spoken.
    pub text: String,
    /// `voice`, e.g. `Polly.Joanna`.
    pub voice: Option<String>,
    /// `language`, e.g. `en-US`.
    pub language: Option<String>,
}

impl Say {
    /// A `<Say>` with a voice and language.
    pub fn new(text: impl Into<String>, voice: &str, language: &str) -> Self {
        Self {
            text: text.into(),
            voice: Some(voice.to_owned()),
            language: Some(language.to_owned()),
        }
    }
}

/// A `<Gather>` verb collecting speech.
#[derive(Debug, Clone, PartialEq)]
pub struct Gather {
    /// `input`, e.g. `speech`.
    pub input: String,
    /// `action`: the absolute URL Twilio posts the result to.
    pub action: String,
    /// `method` (always `POST` here).
    pub method: String,
    /// `timeout` in seconds.
    pub timeout: u32,
    /// `speechTimeout`, e.g. `auto`.
    pub speech_timeout: String,
    /// `language`.
    pub language: String,
    /// `actionOnEmptyResult`.
    pub action_on_empty_result: bool,
    /// `numDigits`: with keypad input, this many keys end the gather.
    pub num_digits: Option<u32>,
    /// `partialResultCallback`: the absolute URL Twilio posts partial
    /// transcripts to while the caller is still talking (with
    /// `partialResultCallbackMethod="POST"`).
    pub partial_result_callback: Option<String>,
    /// Nested `<Say>` verbs (spoken while listening, so the caller can barge in).
    pub say: Vec<Say>,
}

/// A `<Parameter>` of a `<Stream>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// `name`.
    pub name: String,
    /// `value`.
    pub value: String,
}

/// One TwiML verb.
#[derive(Debug, Clone, PartialEq)]
pub enum Verb {
    /// `<Say>`.
    Say(Say),
    /// `<Gather>`.
    Gather(Gather),
    /// `<Pause length="N"/>`.
    Pause(u32),
    /// `<Redirect method="POST">url</Redirect>`.
    Redirect(String),
    /// `<Hangup/>`.
    Hangup,
    /// `<Dial action=… timeout=…><Number url=…>number</Number></Dial>`:
    /// connects the caller to a person; `whisper` is fetched on the
    /// answering leg before it is connected.
    Dial {
        /// Where Twilio posts the outcome (`DialCallStatus`).
        action: String,
        /// How long it rings, in seconds.
        timeout: u32,
        /// The number to ring.
        number: String,
        /// The whisper URL for the person who answers.
        whisper: String,
    },
    /// `<Connect><Stream url=…>` with `<Parameter>`s.
    ConnectStream {
        /// The `wss://` URL.
        url: String,
        /// Per-call data.
        parameters: Vec<Parameter>,
    },
}

/// A TwiML `<Response>` document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// The verbs, run top to bottom by Twilio.
    pub verbs: Vec<Verb>,
}

impl Response {
    /// An empty `<Response/>`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a verb.
    pub fn verb(mut self, verb: Verb) -> Self {
        self.verbs.push(verb);
        self
    }

    /// Appends a `<Say>`.
    pub fn say(self, say: Say) -> Self {
        self.verb(Verb::Say(say))
    }

    /// Appends a `<Gather>`.
    pub fn gather(self, gather: Gather) -> Self {
        self.verb(Verb::Gather(gather))
    }

    /// Appends a `<Redirect>`.
    pub fn redirect(self, url: impl Into<String>) -> Self {
        self.verb(Verb::Redirect(url.into()))
    }

    /// Appends a `<Hangup/>`.
    pub fn hangup(self) -> Self {
        self.verb(Verb::Hangup)
    }

    /// Renders the document with an XML declaration.
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new(Vec::with_capacity(512));
        self.write(&mut w).expect("writing to a Vec cannot fail");
        String::from_utf8(w.into_inner()).expect("quick-xml writes UTF-8")
    }

    fn write(&self, w: &mut Writer<Vec<u8>>) -> quick_xml::Result<()> {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let el = w.create_element("Response");
        if self.verbs.is_empty() {
            el.write_empty()?;
            return Ok(());
        }
        el.write_inner_content(|w| {
            for verb in &self.verbs {
                write_verb(w, verb)?;
            }
            Ok::<(), quick_xml::Error>(())
        })?;
        Ok(())
    }
}

fn write_say(w: &mut Writer<Vec<u8>>, say: &Say) -> quick_xml::Result<()> {
    let mut el = w.create_element("Say");
    if let Some(voice) = &say.voice {
        el = el.with_attribute(("voice", xml_safe(voice).as_ref()));
    }
    if let Some(language) = &say.language {
        el = el.with_attribute(("language", xml_safe(language).as_ref()));
    }
    el.write_text_content(BytesText::new(&xml_safe(&say.text)))?;
    Ok(())
}

fn write_verb(w: &mut Writer<Vec<u8>>, verb: &Verb) -> quick_xml::Result<()> {
    match verb {
        Verb::Say(say) => write_say(w, say)?,
        Verb::Gather(g) => {
            let timeout = g.timeout.to_string();
            let digits = g.num_digits.map(|n| n.to_string());
            let mut el = w
                .create_element("Gather")
                .with_attribute(("input", g.input.as_str()))
                .with_attribute(("action", xml_safe(&g.action).as_ref()))
                .with_attribute(("method", g.method.as_str()))
                .with_attribute(("timeout", timeout.as_str()))
                .with_attribute(("speechTimeout", g.speech_timeout.as_str()))
                .with_attribute(("language", xml_safe(&g.language).as_ref()))
                .with_attribute((
                    "actionOnEmptyResult",
                    if g.action_on_empty_result {
                        "true"
                    } else {
                        "false"
                    },
                ));
            if let Some(digits) = &digits {
                el = el.with_attribute(("numDigits", digits.as_str()));
            }
            if let Some(url) = &g.partial_result_callback {
                el = el
                    .with_attribute(("partialResultCallback", xml_safe(url).as_ref()))
                    .with_attribute(("partialResultCallbackMethod", "POST"));
            }
            if g.say.is_empty() {
                el.write_empty()?;
            } else {
                el.write_inner_content(|w| {
                    for say in &g.say {
                        write_say(w, say)?;
                    }
                    Ok::<(), quick_xml::Error>(())
                })?;
            }
        }
        Verb::Pause(length) => {
            w.create_element("Pause")
                .with_attribute(("length", length.to_string().as_str()))
                .write_empty()?;
        }
        Verb::Redirect(url) => {
            w.create_element("Redirect")
                .with_attribute(("method", "POST"))
                .write_text_content(BytesText::new(&xml_safe(url)))?;
        }
        Verb::Hangup => {
            w.create_element("Hangup").write_empty()?;
        }
        Verb::Dial {
            action,
            timeout,
            number,
            whisper,
        } => {
            w.create_element("Dial")
                .with_attribute(("action", xml_safe(action).as_ref()))
                .with_attribute(("method", "POST"))
                .with_attribute(("timeout", timeout.to_string().as_str()))
                .write_inner_content(|w| {
                    w.create_element("Number")
                        .with_attribute(("url", xml_safe(whisper).as_ref()))
                        .with_attribute(("method", "POST"))
                        .write_text_content(BytesText::new(&xml_safe(number)))?;
                    Ok::<(), quick_xml::Error>(())
                })?;
        }
        Verb::ConnectStream { url, parameters } => {
            w.create_element("Connect").write_inner_content(|w| {
                let stream = w
                    .create_element("Stream")
                    .with_attribute(("url", xml_safe(url).as_ref()));
                if parameters.is_empty() {
                    stream.write_empty()?;
                } else {
                    stream.write_inner_content(|w| {
                        for p in parameters {
                            w.create_element("Parameter")
                                .with_attribute(("name", xml_safe(&p.name).as_ref()))
                                .with_attribute(("value", xml_safe(&p.value).as_ref()))
                                .write_empty()?;
                        }
                        Ok::<(), quick_xml::Error>(())
                    })?;
                }
                Ok::<(), quick_xml::Error>(())
            })?;
        }
    }
    Ok(())
}

/// Drops the characters XML 1.0 cannot carry at all (most C0 controls,
/// surrogates are impossible in `str`, U+FFFE/U+FFFF). Escaping of `<`, `&`
/// and quotes is left to the writer.
pub fn xml_safe(text: &str) -> Cow<'_, str> {
    fn allowed(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    }
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|&c| allowed(c)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather() -> Gather {
        Gather {
            input: "speech".into(),
            action: "https://x.example/voice/process-speech".into(),
            method: "POST".into(),
            timeout: 4,
            speech_timeout: "auto".into(),
            language: "en-US".into(),
            action_on_empty_result: true,
            num_digits: None,
            partial_result_callback: None,
            say: vec![],
        }
    }

    #[test]
    fn say_then_gather_renders_exactly() {
        let xml = Response::new()
            .say(Say::new("Hello!", "Polly.Joanna", "en-US"))
            .gather(gather())
            .to_xml();
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="Polly.Joanna" language="en-US">Hello!</Say><Gather input="speech" action="https://x.example/voice/process-speech" method="POST" timeout="4" speechTimeout="auto" language="en-US" actionOnEmptyResult="true"/></Response>"#
        );
    }

    #[test]
    fn empty_response_is_self_closing() {
        assert_eq!(
            Response::new().to_xml(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
        );
    }

    #[test]
    fn hostile_text_is_escaped_and_control_characters_dropped() {
        let xml = Response::new()
            .say(Say::new(
                "</Say><Hangup/> & \"quotes\" 'x' \u{0}\u{1b}\u{FFFF}ok",
                "Polly.Joanna",
                "en-US",
            ))
            .hangup()
            .to_xml();
        assert!(xml.contains("&lt;/Say&gt;&lt;Hangup/&gt; &amp;"), "{xml}");
        assert!(!xml.contains('\u{0}') && !xml.contains('\u{1b}') && !xml.contains('\u{FFFF}'));
        assert!(xml.ends_with("ok</Say><Hangup/></Response>"), "{xml}");
    }

    #[test]
    fn connect_stream_with_parameters_and_redirect() {
        let xml = Response::new()
            .verb(Verb::ConnectStream {
                url: "wss://x.example/twilio/stream".into(),
                parameters: vec![Parameter {
                    name: "call_sid".into(),
                    value: "CA1&2".into(),
                }],
            })
            .verb(Verb::Pause(1))
            .redirect("https://x.example/a?b=1&c=2")
            .to_xml();
        assert!(xml.contains(r#"<Connect><Stream url="wss://x.example/twilio/stream"><Parameter name="call_sid" value="CA1&amp;2"/></Stream></Connect>"#), "{xml}");
        assert!(xml.contains(r#"<Pause length="1"/>"#));
        assert!(
            xml.contains(r#"<Redirect method="POST">https://x.example/a?b=1&amp;c=2</Redirect>"#)
        );
    }

    #[test]
    fn dial_with_a_whisper_and_a_keypad_gather_render_exactly() {
        let doc = Response::new()
            .verb(Verb::Dial {
                action: "https://x.example/voice/transfer-status".into(),
                timeout: 20,
                number: "+14155550123".into(),
                whisper: "https://x.example/voice/transfer-whisper?a=1&b=2".into(),
            })
            .gather(Gather {
                input: "speech dtmf".into(),
                num_digits: Some(1),
                ..gather()
            });
        let xml = doc.to_xml();
        assert!(xml.contains(
            "<Dial action=\"https://x.example/voice/transfer-status\" method=\"POST\" timeout=\"20\">\
             <Number url=\"https://x.example/voice/transfer-whisper?a=1&amp;b=2\" method=\"POST\">+14155550123</Number></Dial>"
        ), "{xml}");
        assert!(
            xml.contains("input=\"speech dtmf\"") && xml.contains("numDigits=\"1\""),
            "{xml}"
        );
    }

    #[test]
    fn a_gather_asks_for_partial_results_by_post() {
        let xml = Response::new()
            .gather(Gather {
                partial_result_callback: Some(
                    "https://x.example/voice/partial-speech?a=1&b=2".into(),
                ),
                ..gather()
            })
            .to_xml();
        assert!(
            xml.contains(
                r#"actionOnEmptyResult="true" partialResultCallback="https://x.example/voice/partial-speech?a=1&amp;b=2" partialResultCallbackMethod="POST"/>"#
            ),
            "{xml}"
        );
    }
}
