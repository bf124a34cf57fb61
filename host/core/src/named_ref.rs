//! The ref an entity's JSON text names, read from the front of the text
//! without parsing the rest: a page's texts are looked up by the ref they
//! name and their exact hash, to recognise what a source sent before, and
//! for that only `kind`, `metadata.name` and `metadata.namespace` matter.
//! Reading stops once they are found (for the usual order, within the first
//! hundred bytes of a text of a thousand).
//!
//! The ref read here is a hint, never stored: the lookup asks for a stored
//! contribution with this ref *and* this exact text, and a stored text was
//! parsed and validated in full, so a match names its true ref. A text that
//! names a key twice may be read here by another occurrence than the one
//! the intake takes (the last): it then finds no match, and is parsed in
//! full like any new text.

use serde::Deserialize;

use super::entity_ref::{DEFAULT_NAMESPACE, EntityRef};

/// The normalised ref `json` names; `None` when it names none. `json` is
/// JSON text (the runtime checks every entity's syntax).
pub(super) fn named_ref(json: &str) -> Option<String> {
    match Named::read_front(json) {
        Some(named) => named.entity_ref(),
        // A key or a value with an escape, or a text that names no ref:
        // the parse settles it.
        None => Named::parse(json)?.entity_ref(),
    }
}

/// What a text says its ref is.
struct Named<'a> {
    kind: std::borrow::Cow<'a, str>,
    name: std::borrow::Cow<'a, str>,
    namespace: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> Named<'a> {
    /// The normalised ref, if the names make one.
    fn entity_ref(&self) -> Option<String> {
        let namespace = self
            .namespace
            .as_deref()
            .filter(|namespace| !namespace.is_empty())
            .unwrap_or(DEFAULT_NAMESPACE);
        EntityRef::new(&self.kind, namespace, &self.name)
            .ok()
            .map(|entity_ref| entity_ref.to_string())
    }

    /// Read the members from the front, skipping the values of the others
    /// by their brackets and quotes, and stop once everything is found.
    /// `None` if a key or a wanted value holds an escape, or is missing.
    fn read_front(json: &'a str) -> Option<Self> {
        let mut text = Front { text: json, at: 0 };
        let (mut kind, mut name, mut namespace) = (None, None, None);
        let mut metadata_read = false;
        let mut members = text.open()?;
        while let Some(key) = text.key(&mut members)? {
            match key {
                "kind" => kind = Some(text.plain_string()?),
                "metadata" => {
                    let mut fields = text.open()?;
                    while let Some(key) = text.key(&mut fields)? {
                        match key {
                            "name" => name = Some(text.plain_string()?),
                            "namespace" => namespace = Some(text.plain_string()?),
                            _ => text.skip_value()?,
                        }
                        if kind.is_some() && name.is_some() && namespace.is_some() {
                            break;
                        }
                    }
                    metadata_read = true;
                }
                _ => text.skip_value()?,
            }
            if kind.is_some() && metadata_read {
                break;
            }
        }
        Some(Named {
            kind: kind?.into(),
            name: name?.into(),
            namespace: namespace.map(Into::into),
        })
    }

    /// Parse the whole text, skipping every other field without building it.
    fn parse(json: &'a str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Text<'a> {
            #[serde(borrow)]
            kind: std::borrow::Cow<'a, str>,
            #[serde(borrow)]
            metadata: Metadata<'a>,
        }
        #[derive(Deserialize)]
        struct Metadata<'a> {
            #[serde(borrow)]
            name: std::borrow::Cow<'a, str>,
            #[serde(borrow, default)]
            namespace: Option<std::borrow::Cow<'a, str>>,
        }
        let text: Text<'a> = serde_json::from_str(json).ok()?;
        Some(Named {
            kind: text.kind,
            name: text.metadata.name,
            namespace: text.metadata.namespace,
        })
    }
}

/// JSON text read from its front, position `at`.
struct Front<'a> {
    text: &'a str,
    at: usize,
}

/// Whether an object's next member is its first.
struct Members {
    first: bool,
}

impl<'a> Front<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte that is not white space.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&byte) = self.bytes().get(self.at) {
            if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(byte);
            }
            self.at += 1;
        }
        None
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Enter an object.
    fn open(&mut self) -> Option<Members> {
        self.eat(b'{')?;
        Some(Members { first: true })
    }

    /// The next member's key, with its colon read; `Some(None)` at the
    /// object's end.
    fn key(&mut self, members: &mut Members) -> Option<Option<&'a str>> {
        match self.peek()? {
            b'}' => {
                self.at += 1;
                return Some(None);
            }
            b',' if !members.first => self.at += 1,
            _ if members.first => {}
            _ => return None,
        }
        members.first = false;
        let key = self.plain_string()?;
        self.eat(b':')?;
        Some(Some(key))
    }

    /// A string that holds no escape, borrowed from the text.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let end = start + memchr::memchr2(b'"', b'\\', &self.bytes()[start..])?;
        if self.bytes()[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        self.text.get(start..end)
    }

    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let found = memchr::memchr2(b'"', b'\\', self.bytes().get(self.at..)?)?;
            self.at += found + 1;
            if self.bytes()[self.at - 1] == b'"' {
                return Some(());
            }
            // The escaped byte (a quote or a backslash among them).
            self.at += 1;
        }
    }

    /// Skip one value: a string, an object or array (to its matching
    /// bracket), or a number or literal.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.bytes().get(self.at)? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                let rest = &self.bytes()[self.at..];
                let end = rest
                    .iter()
                    .position(|byte| {
                        matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                    })
                    .unwrap_or(rest.len());
                (end > 0).then(|| self.at += end)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the full parse names, as the reference.
    fn parsed_ref(json: &str) -> Option<String> {
        Named::parse(json)?.entity_ref()
    }

    #[test]
    fn the_named_ref_is_read_from_the_text_as_the_full_intake_reads_it() {
        for (json, expected) in [
            (
                r#"{"kind":"Component","metadata":{"name":"A.b_C","namespace":"Ops"},"spec":{"x":[1,{"y":2}]}}"#,
                Some("component:ops/a.b_c"),
            ),
            (
                r#"{"metadata":{"labels":{"a":"b"},"name":"a"},"kind":"API"}"#,
                Some("api:default/a"),
            ),
            (
                r#"{"kind":"API","metadata":{"name":"a","namespace":""}}"#,
                Some("api:default/a"),
            ),
            (
                r#"{"kind":"API","metadata":{"name":"a","namespace":null}}"#,
                Some("api:default/a"),
            ),
            (r#"{"kind":"API","metadata":{"name":""}}"#, None),
            (r#"{"kind":"API","metadata":{}}"#, None),
            (r#"{"kind":1,"metadata":{"name":"a"}}"#, None),
        ] {
            assert_eq!(named_ref(json).as_deref(), expected, "{json}");
            let full = crate::json::Json::parse(json)
                .ok()
                .and_then(|value| EntityRef::from_entity(&value).ok())
                .map(|entity_ref| entity_ref.to_string());
            if let Some(named) = named_ref(json) {
                assert_eq!(Some(named), full, "{json}");
            }
        }
    }

    #[test]
    fn reads_the_ref_as_the_full_parse_does() {
        let texts = [
            r#"{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"a","namespace":"Team","description":"x"},"spec":{"type":"service"}}"#,
            r#"{"kind":"Component","metadata":{"name":"a"},"spec":{}}"#,
            r#"{"kind":"Component","metadata":{"name":"a","namespace":""}}"#,
            r#"{"metadata":{"labels":{"a":"b}"},"annotations":{"q":"\"{["},"name":"web","tags":["x","y]"],"n":-1.5e3,"t":true,"z":null},"kind":"API"}"#,
            r#" { "kind" : "Group" , "metadata" : { "namespace" : "ops" , "name" : "admins" } } "#,
            r#"{"spec":{"deep":[[{"a":[1,2,{"b":"}}"}]}]]},"kind":"System","metadata":{"name":"s"}}"#,
            r#"{"kind":"Component","metadata":{"name":"caf\u00e9"}}"#,
            r#"{"kind":"Comp\u006fnent","metadata":{"name":"a"}}"#,
            r#"{"kin\u0064":"Component","metadata":{"name":"a"}}"#,
            r#"{"kind":"Component","metadata":{"name":"a","namespace":null}}"#,
            r#"{"kind":"Component","metadata":{"namespace":"x"}}"#,
            r#"{"kind":"Component"}"#,
            r#"{"metadata":{"name":"a"}}"#,
            r#"{"kind":7,"metadata":{"name":"a"}}"#,
            r#"{"kind":"Component","metadata":{"name":"not a valid name!"}}"#,
            r#"{"kind":"Component","metadata":[]}"#,
            r#"["kind","Component"]"#,
            r#""text""#,
            r#"{}"#,
        ];
        for text in texts {
            assert_eq!(named_ref(text), parsed_ref(text), "{text}");
        }
        assert_eq!(
            named_ref(texts[0]).as_deref(),
            Some("component:team/a"),
            "normalised"
        );
        assert_eq!(named_ref(texts[3]).as_deref(), Some("api:default/web"));
    }

    /// Reading stops once the ref is known: what follows is not read, so
    /// it does not matter what it is (the runtime checked it is JSON).
    #[test]
    fn stops_reading_once_the_ref_is_known() {
        let front = r#"{"kind":"Component","metadata":{"name":"a","namespace":"b","#;
        assert!(Named::read_front(&format!("{front}!!! not read")).is_some());
        let without_namespace = r#"{"kind":"Component","metadata":{"name":"a"},"#;
        assert!(Named::read_front(&format!("{without_namespace}!!!")).is_some());
        // Without a namespace, the rest of `metadata` is read to know there is none.
        assert!(Named::read_front(r#"{"kind":"Component","metadata":{"name":"a",!!!"#).is_none());
    }

    /// Text that is not JSON (the runtime lets none through) never makes
    /// the reader panic: every cut of a text, with an escape at the cut
    /// among them, names nothing until the ref is read whole.
    #[test]
    fn a_cut_text_names_nothing_and_does_not_panic() {
        let text =
            r#"{"spec":{"a":["x\\",{"b":"\"}"}],"n":1},"kind":"API","metadata":{"name":"a"}}"#;
        let metadata_ends = text.len() - 1;
        for cut in 0..=text.len() {
            let named = named_ref(&text[..cut]);
            // Once `metadata` is closed after `kind`, reading stops.
            let expected = (cut >= metadata_ends).then_some("api:default/a");
            assert_eq!(named.as_deref(), expected, "{}", &text[..cut]);
        }
    }

    /// A key repeated after reading stops is not seen here, though the
    /// intake takes the last occurrence: the lookup of this ref with this
    /// exact text then finds nothing, and the text is taken in in full.
    #[test]
    fn a_key_repeated_after_reading_stops_is_not_seen() {
        let text = r#"{"kind":"Component","metadata":{"name":"a","namespace":"b"},"kind":"API"}"#;
        assert_eq!(named_ref(text).as_deref(), Some("component:b/a"));
        let taken_in = crate::json::Json::parse(text).unwrap();
        let entity_ref = EntityRef::from_entity(&taken_in).unwrap();
        assert_eq!(entity_ref.to_string(), "api:b/a");
    }
}
