//! Queries over gluster's `--xml` answers, on `roxmltree`'s read-only tree.
//!
//! gluster's answers are small (kilobytes), so a tree is simpler to query than a streaming
//! parser and costs nothing that matters. `roxmltree` does the XML (entities, CDATA,
//! well-formedness, no DTDs); this module adds the few questions the parsers ask of an
//! element, each failing with the element's name.

use roxmltree::{Document, Node, ParsingOptions};

use crate::error::{OpFailure, ParseError, ReplyError};

/// Deepest nesting accepted; gluster's answers are about 8 levels deep, so anything far
/// deeper is not an answer of gluster.
const MAX_DEPTH: usize = 64;

/// Most nodes accepted in one answer: `volume info` of a thousand volumes is far below it,
/// and it bounds the memory a runaway answer can take.
const MAX_NODES: u32 = 4_000_000;

/// An element of an answer.
pub(crate) type Element<'a> = Node<'a, 'a>;

/// The questions the parsers ask of an element.
pub(crate) trait Query<'a>: Sized {
    /// The first child element called `name`.
    fn child(&self, name: &str) -> Option<Self>;
    /// All child elements called `name`.
    fn all(&self, name: &'a str) -> impl Iterator<Item = Self> + 'a;
    /// The trimmed text of this element (its first text, before any child element).
    fn trimmed(&self) -> &'a str;
    /// The value of attribute `name`.
    fn attr(&self, name: &str) -> Option<&'a str>;
    /// This element's name.
    fn name(&self) -> &'a str;

    /// The child element called `name`, or an error naming it.
    fn req(&self, name: &str) -> Result<Self, ParseError> {
        self.child(name)
            .ok_or_else(|| ParseError::Missing(format!("{}/{name}", self.name())))
    }

    /// The trimmed text of the child `name`, if present.
    fn text_of(&self, name: &str) -> Option<&'a str> {
        self.child(name).map(|c| c.trimmed())
    }

    /// The trimmed text of the child `name`, or an error naming it.
    fn req_text(&self, name: &str) -> Result<&'a str, ParseError> {
        self.req(name).map(|c| c.trimmed())
    }

    /// The child `name` as a number.
    fn req_num<T: std::str::FromStr>(&self, name: &str) -> Result<T, ParseError> {
        let text = self.req_text(name)?;
        text.parse().map_err(|_| ParseError::Invalid {
            element: name.to_owned(),
            value: text.to_owned(),
            expected: "a number",
        })
    }

    /// The child `name` as a number, `None` when absent or not a number (gluster writes
    /// "N/A" or "-" for values it does not know).
    fn opt_num<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.text_of(name).and_then(|t| t.parse().ok())
    }

    /// The child `name` as gluster's 0/1 flag.
    fn req_flag(&self, name: &str) -> Result<bool, ParseError> {
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

impl<'a> Query<'a> for Element<'a> {
    fn child(&self, name: &str) -> Option<Self> {
        self.children().find(|c| c.has_tag_name(name))
    }

    fn all(&self, name: &'a str) -> impl Iterator<Item = Self> + 'a {
        self.children().filter(move |c| c.has_tag_name(name))
    }

    fn trimmed(&self) -> &'a str {
        self.text().unwrap_or_default().trim()
    }

    fn attr(&self, name: &str) -> Option<&'a str> {
        self.attribute(name)
    }

    fn name(&self) -> &'a str {
        self.tag_name().name()
    }
}

/// Parses a whole document.
fn parse_document(bytes: &[u8]) -> Result<Document<'_>, ParseError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ParseError::Xml(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc =
        Document::parse_with_options(text, options).map_err(|e| ParseError::Xml(e.to_string()))?;
    check_depth(doc.root_element())?;
    Ok(doc)
}

/// Refuses a tree nested deeper than [`MAX_DEPTH`] elements (walked without recursion).
fn check_depth(root: Element<'_>) -> Result<(), ParseError> {
    let mut stack = vec![(root, 1usize)];
    while let Some((node, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(ParseError::Xml(format!(
                "nested deeper than {MAX_DEPTH} elements"
            )));
        }
        stack.extend(
            node.children()
                .filter(Node::is_element)
                .map(|c| (c, depth + 1)),
        );
    }
    Ok(())
}

/// Parses a `<cliOutput>` answer, checks its `opRet`, and on success hands its root to
/// `read`; gluster's failure otherwise.
pub(crate) fn cli_output<T>(
    bytes: &[u8],
    read: impl FnOnce(Element<'_>) -> Result<T, ParseError>,
) -> Result<T, ReplyError> {
    let doc = parse_document(bytes)?;
    let root = doc.root_element();
    if root.name() != "cliOutput" {
        return Err(ParseError::NotCliOutput(root.name().to_owned()).into());
    }
    let failure = op_status(root)?;
    if failure.op_ret != 0 {
        return Err(failure.into());
    }
    Ok(read(root)?)
}

/// Reads `opRet`, `opErrno` and `opErrstr` from the root.
fn op_status(root: Element<'_>) -> Result<OpFailure, ParseError> {
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
    fn reads_attributes_text_and_entities() {
        let doc = parse_document(
            br#"<?xml version="1.0"?><a x="1&amp;2"><b>t &lt;1&gt; &#65;</b><c/><d><![CDATA[<x>]]></d></a>"#,
        )
        .expect("parses");
        let tree = doc.root_element();
        assert_eq!(tree.attr("x"), Some("1&2"));
        assert_eq!(tree.text_of("b"), Some("t <1> A"));
        assert_eq!(tree.text_of("d"), Some("<x>"));
        assert!(tree.child("c").is_some());
        assert_eq!(
            tree.req("e").map(|_| ()),
            Err(ParseError::Missing("a/e".into()))
        );
    }

    #[test]
    fn rejects_broken_documents() {
        for bad in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"",
            b"<a>&nosuch;</a>",
            b"<a>\xff</a>",
            b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
        ] {
            assert!(
                parse_document(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse_document(deep.as_bytes()).is_err());
        let deep_enough = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse_document(deep_enough.as_bytes()).is_ok());
    }

    #[test]
    fn refuses_a_foreign_root() {
        assert_eq!(
            cli_output(b"<html/>", |_| Ok(())),
            Err(ReplyError::Parse(ParseError::NotCliOutput("html".into())))
        );
    }

    #[test]
    fn hands_back_gluster_s_failure() {
        let answer = b"<cliOutput><opRet>-1</opRet><opErrno>30806</opErrno>\
            <opErrstr>Volume v does not exist</opErrstr></cliOutput>";
        assert_eq!(
            cli_output(answer, |_| Ok(())),
            Err(ReplyError::Op(OpFailure {
                op_ret: -1,
                op_errno: 30806,
                op_errstr: "Volume v does not exist".into(),
            }))
        );
    }
}
