//! `X-Twilio-Signature`: how Twilio signs each webhook, and checking it.
//!
//! Twilio signs the full URL it requested (query string included, byte for
//! byte) followed by every form parameter, sorted by name, each written as
//! `name` then `value` with no separator (a repeated name contributes its
//! distinct values in sorted order). The signature is the base64 of the
//! HMAC-SHA1 of that string keyed by the account's auth token. Because
//! Twilio is not consistent about default ports, a request is accepted when
//! either the URL without a port or the URL with the scheme's default port
//! matches, as Twilio's own SDKs do. The comparison is constant-time.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use url::Url;

type HmacSha1 = Hmac<Sha1>;

/// The string Twilio signs: the URL, then each parameter as `name` + `value`.
pub fn signing_string<'a>(
    url: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut sorted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in params {
        sorted.entry(name).or_default().push(value);
    }
    let mut out = String::from(url);
    for (name, mut values) in sorted {
        values.sort_unstable();
        values.dedup();
        for value in values {
            out.push_str(name);
            out.push_str(value);
        }
    }
    out
}

/// The signature Twilio computes for `url` and `params` with `auth_token`.
pub fn sign<'a>(
    auth_token: &str,
    url: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(signing_string(url, params).as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The URL without its port, and with the scheme's default port, as Twilio's
/// SDKs try both. Falls back to the URL as given when it cannot be parsed.
fn port_variants(url: &str) -> [String; 2] {
    let Ok(parsed) = Url::parse(url) else {
        return [url.to_owned(), url.to_owned()];
    };
    let mut without = parsed.clone();
    let _ = without.set_port(None);
    // `Url` drops a port equal to the scheme's default when serialising, so
    // the "with port" form is rebuilt by hand from its parts.
    let with = match parsed.port_or_known_default() {
        Some(port) => {
            let host = parsed.host_str().unwrap_or_default();
            let auth = match (parsed.username(), parsed.password()) {
                ("", None) => String::new(),
                (user, None) => format!("{user}@"),
                (user, Some(pass)) => format!("{user}:{pass}@"),
            };
            let mut s = format!("{}://{auth}{host}:{port}{}", parsed.scheme(), parsed.path());
            if let Some(q) = parsed.query() {
                s.push('?');
                s.push_str(q);
            }
            s
        }
        None => url.to_owned(),
    };
    [without.to_string(), with]
}

/// Whether `signature` is what Twilio would send for this request.
pub fn is_valid<'a>(
    auth_token: &str,
    url: &str,
    params: &[(&'a str, &'a str)],
    signature: &str,
) -> bool {
    let [a, b] = port_variants(url);
    matches_any(auth_token, [&a, &b], params, signature)
}

/// Checks requests against one base URL (such as `PUBLIC_URL`), whose two
/// port forms are worked out once rather than per request.
#[derive(Debug, Clone)]
pub struct Validator {
    bases: [String; 2],
}

impl Validator {
    /// A validator for URLs under `base` (scheme, host, optional port, path prefix).
    pub fn new(base: &str) -> Self {
        let bases = port_variants(base).map(|b| b.trim_end_matches('/').to_owned());
        Self { bases }
    }

    /// Whether `signature` is Twilio's for `path_and_query` under the base.
    pub fn is_valid<'a>(
        &self,
        auth_token: &str,
        path_and_query: &str,
        params: &[(&'a str, &'a str)],
        signature: &str,
    ) -> bool {
        let [a, b] = &self.bases;
        let (a, b) = (
            format!("{a}{path_and_query}"),
            format!("{b}{path_and_query}"),
        );
        matches_any(auth_token, [&a, &b], params, signature)
    }
}

fn matches_any(
    auth_token: &str,
    urls: [&str; 2],
    params: &[(&str, &str)],
    signature: &str,
) -> bool {
    let given = signature.trim().as_bytes();
    let mut ok = false;
    // Both variants are always computed so timing does not tell which matched.
    for candidate in urls {
        let expected = sign(auth_token, candidate, params.iter().copied());
        ok |= bool::from(expected.as_bytes().ct_eq(given));
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from Twilio's published algorithm (twilio-python's
    // test_request_validator.py), auth token "12345".
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const PARAMS: &[(&str, &str)] = &[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ];

    #[test]
    fn signing_string_matches_twilios() {
        assert_eq!(
            signing_string(URL, PARAMS.iter().copied()),
            "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212"
        );
    }

    #[test]
    fn twilio_vectors_sign_as_published() {
        assert_eq!(
            sign(TOKEN, URL, PARAMS.iter().copied()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert_eq!(
            sign(
                TOKEN,
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                PARAMS.iter().copied()
            ),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert_eq!(
            sign(
                TOKEN,
                "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
                PARAMS.iter().copied()
            ),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        );
        assert_eq!(
            sign(
                TOKEN,
                "http://mycompany.com:80/myapp.php?foo=1&bar=2",
                PARAMS.iter().copied()
            ),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        );
    }

    #[test]
    fn repeated_keys_contribute_sorted_distinct_values() {
        let params = [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ];
        assert!(
            signing_string(URL, params).ends_with("Digits1234Digits5678SidCA123SidAccountAC123")
        );
        assert_eq!(sign(TOKEN, URL, params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn accepts_either_port_form_and_refuses_anything_else() {
        // Signed with :443, checked against the URL without a port, and back.
        assert!(is_valid(TOKEN, URL, PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w="));
        assert!(is_valid(
            TOKEN,
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            PARAMS,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        // http with :80 added.
        assert!(is_valid(
            TOKEN,
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            PARAMS,
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
        assert!(!is_valid(TOKEN, URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8"));
        assert!(!is_valid(
            "54321",
            URL,
            PARAMS,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!is_valid(
            TOKEN,
            URL,
            &PARAMS[1..],
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!is_valid(TOKEN, URL, PARAMS, ""));
    }

    #[test]
    fn a_validator_for_a_base_url_agrees_with_the_published_vectors() {
        let v = Validator::new("https://mycompany.com/");
        assert!(v.is_valid(
            TOKEN,
            "/myapp.php?foo=1&bar=2",
            PARAMS,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(v.is_valid(
            TOKEN,
            "/myapp.php?foo=1&bar=2",
            PARAMS,
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
        assert!(!v.is_valid(
            TOKEN,
            "/myapp.php?foo=1",
            PARAMS,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        let http = Validator::new("http://mycompany.com");
        assert!(http.is_valid(
            TOKEN,
            "/myapp.php?foo=1&bar=2",
            PARAMS,
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
    }
}
