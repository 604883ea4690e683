//! A small element tree over quick-xml, enough for gluster's `--xml` answers.
//!
//! gluster's answers are small (kilobytes), so a tree is simpler to query than a streaming
//! parser and costs nothing that matters.

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use crate::error::{OpFailure, ParseError, ReplyError};

/// Deepest nesting accepted; gluster's answers are about 8 levels deep, so anything far
/// deeper is not an answer of gluster.
const MAX_DEPTH: usize = 64;

/// One element: its name, attributes, text (all text children concatenated) and child
/// elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The child element called `name`, or an error naming it.
    pub fn req(&self, name: &str) -> Result<&Element, ParseError> {
        self.child(name)
            .ok_or_else(|| ParseError::Missing(format!("{}/{name}", self.name)))
    }

    /// All child elements called `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of this element.
    pub fn trimmed(&self) -> &str {
        self.text.trim()
    }

    /// The trimmed text of the child `name`, if present.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(Element::trimmed)
    }

    /// The trimmed text of the child `name`, or an error naming it.
    pub fn req_text(&self, name: &str) -> Result<&str, ParseError> {
        self.req(name).map(Element::trimmed)
    }

    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The child `name` as a number.
    pub fn req_num<T: std::str::FromStr>(&self, name: &str) -> Result<T, ParseError> {
        let text = self.req_text(name)?;
        text.parse().map_err(|_| ParseError::Invalid {
            element: name.to_owned(),
            value: text.to_owned(),
            expected: "a number",
        })
    }

    /// The child `name` as a number, `None` when absent or not a number (gluster writes
    /// "N/A" or "-" for values it does not know).
    pub fn opt_num<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.text_of(name).and_then(|t| t.parse().ok())
    }

    /// The child `name` as gluster's 0/1 flag.
    pub fn req_flag(&self, name: &str) -> Result<bool, ParseError> {
        match self.req_text(name)? {
            "1" => Ok(true),
            "0" => Ok(false),
            other => Err(ParseError::Invalid {
                element: name.to_owned(),
                value: other.to_owned(),
                expected: "0 or 1",
            }),
        }
    }
}

fn start_element(start: &BytesStart<'_>) -> Result<Element, ParseError> {
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| ParseError::Xml(e.to_string()))?;
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| ParseError::Xml(e.to_string()))?;
        attrs.push((attr.key.as_ref().to_owned(), value.into_owned()));
    }
    Ok(Element {
        name: start.name().as_ref().to_owned(),
        attrs,
        ..Element::default()
    })
}

/// Resolves an entity reference (`&amp;`, `&#10;`) in text.
fn resolve_ref(name: &str) -> Option<String> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix('x') {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).map(String::from);
    }
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    };
    Some(c.to_string())
}

/// Parses a whole document into its root element.
pub(crate) fn parse_tree(bytes: &[u8]) -> Result<Element, ParseError> {
    let mut reader = Reader::from_reader(bytes);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| ParseError::Xml(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(ParseError::Xml(format!(
                        "nested deeper than {MAX_DEPTH} elements"
                    )));
                }
                stack.push(start_element(&start)?);
            }
            Event::Empty(start) => {
                let element = start_element(&start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                let Some(element) = stack.pop() else {
                    return Err(ParseError::Xml("unbalanced end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Text(text) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&data);
                }
            }
            Event::GeneralRef(reference) => {
                let name: &str = &reference;
                let Some(resolved) = resolve_ref(name) else {
                    return Err(ParseError::Xml(format!("unknown entity &{name};")));
                };
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(ParseError::Xml("document ends inside an element".into()));
    }
    root.ok_or_else(|| ParseError::Xml("no root element".into()))
}

/// Parses a `<cliOutput>` answer and checks its `opRet`: the root on success, gluster's
/// failure otherwise.
pub(crate) fn parse_cli_output(bytes: &[u8]) -> Result<Element, ReplyError> {
    let root = parse_tree(bytes)?;
    if root.name != "cliOutput" {
        return Err(ParseError::NotCliOutput(root.name).into());
    }
    let failure = op_status(&root)?;
    if failure.op_ret != 0 {
        return Err(failure.into());
    }
    Ok(root)
}

/// Reads `opRet`, `opErrno` and `opErrstr` from the root.
pub(crate) fn op_status(root: &Element) -> Result<OpFailure, ParseError> {
    Ok(OpFailure {
        op_ret: root.req_num("opRet")?,
        // Some answers (heal info) omit opErrno on success; 0 is what gluster means then.
        op_errno: root.opt_num("opErrno").unwrap_or(0),
        op_errstr: root.text_of("opErrstr").unwrap_or_default().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_with_attributes_text_and_entities() {
        let tree =
            parse_tree(br#"<?xml version="1.0"?><a x="1&amp;2"><b>t &lt;1&gt; &#65;</b><c/></a>"#)
                .expect("parses");
        assert_eq!(tree.attr("x"), Some("1&2"));
        assert_eq!(tree.text_of("b"), Some("t <1> A"));
        assert!(tree.child("c").is_some());
    }

    #[test]
    fn rejects_broken_documents() {
        for bad in [&b"<a><b></a>"[..], b"<a>", b"", b"<a>&nosuch;</a>"] {
            assert!(parse_tree(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse_tree(deep.as_bytes()).is_err());
    }

    #[test]
    fn refuses_a_foreign_root() {
        assert_eq!(
            parse_cli_output(b"<html/>"),
            Err(ReplyError::Parse(ParseError::NotCliOutput("html".into())))
        );
    }
}
