//! Properties of the answer parsers: whatever bytes come back from the CLI, a parser
//! returns a value or an error and never panics; and what gluster would write for a
//! generated pool or volume list reads back as what was generated.

use brickyard_gluster::parse::{
    parse_heal_info, parse_ok, parse_peer_probe, parse_peer_status, parse_pool_list,
    parse_uuid_get, parse_volume_info, parse_volume_list, parse_volume_op, parse_volume_status,
};
use brickyard_gluster::{PeerState, VolumeOp};
use proptest::prelude::*;

const FIXTURES: &[&[u8]] = &[
    include_bytes!("fixtures/pool_list.xml"),
    include_bytes!("fixtures/peer_status_down.xml"),
    include_bytes!("fixtures/volume_info_all.xml"),
    include_bytes!("fixtures/volume_status_brick_down.xml"),
    include_bytes!("fixtures/volume_heal_info_pending.xml"),
    include_bytes!("fixtures/volume_create_ok.xml"),
    include_bytes!("fixtures/peer_probe_already.xml"),
];

/// Runs every parser on `bytes`; each must return, whatever the input.
fn parse_everything(bytes: &[u8]) {
    let _ = parse_pool_list(bytes);
    let _ = parse_peer_status(bytes);
    let _ = parse_peer_probe(bytes);
    let _ = parse_ok(bytes);
    let _ = parse_uuid_get(bytes);
    let _ = parse_volume_list(bytes);
    let _ = parse_volume_info(bytes);
    let _ = parse_volume_status(bytes);
    let _ = parse_heal_info(bytes);
    let _ = parse_volume_op(bytes, VolumeOp::Create);
}

/// Text as gluster escapes it inside an element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Element text with no surrounding whitespace (the parsers trim) and no control
/// characters (XML 1.0 cannot carry most of them).
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._:/&<>\"' -]{1,24}"
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("not blank", |s| !s.is_empty())
}

#[derive(Debug, Clone)]
struct GenPeer {
    uuid: String,
    hostname: String,
    connected: bool,
    state: i32,
}

fn peer() -> impl Strategy<Value = GenPeer> {
    ("[0-9a-f]{8}-[0-9a-f]{4}", text(), any::<bool>(), 0i32..12).prop_map(
        |(uuid, hostname, connected, state)| GenPeer {
            uuid,
            hostname,
            connected,
            state,
        },
    )
}

fn peer_status_xml(peers: &[GenPeer]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<cliOutput>\n  \
         <opRet>0</opRet>\n  <opErrno>0</opErrno>\n  <opErrstr/>\n  <peerStatus>\n",
    );
    for p in peers {
        let host = escape(&p.hostname);
        xml.push_str(&format!(
            "    <peer>\n      <uuid>{}</uuid>\n      <hostname>{host}</hostname>\n      \
             <hostnames>\n        <hostname>{host}</hostname>\n      </hostnames>\n      \
             <connected>{}</connected>\n      <state>{}</state>\n      \
             <stateStr>whatever</stateStr>\n    </peer>\n",
            p.uuid,
            u8::from(p.connected),
            p.state
        ));
    }
    xml.push_str("  </peerStatus>\n</cliOutput>\n");
    xml
}

proptest! {
    #[test]
    fn any_bytes_are_answered_without_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        parse_everything(&bytes);
    }

    #[test]
    fn damaged_answers_are_answered_without_a_panic(
        which in 0..FIXTURES.len(),
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let mut bytes = FIXTURES[which].to_vec();
        for (at, byte) in flips {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        parse_everything(&bytes);
        let len = cut.index(bytes.len());
        parse_everything(&bytes[..len]);
    }

    #[test]
    fn a_peer_list_reads_back_as_written(peers in proptest::collection::vec(peer(), 0..6)) {
        let parsed = parse_peer_status(peer_status_xml(&peers).as_bytes()).expect("parses");
        prop_assert_eq!(parsed.len(), peers.len());
        for (got, want) in parsed.iter().zip(&peers) {
            prop_assert_eq!(&got.uuid, &want.uuid);
            prop_assert_eq!(&got.hostname, &want.hostname);
            prop_assert_eq!(&got.hostnames, &vec![want.hostname.clone()]);
            prop_assert_eq!(got.connected, want.connected);
            prop_assert_eq!(got.state, Some(PeerState::from_code(want.state)));
            prop_assert!(!got.local);
            prop_assert_eq!(got.is_healthy(), want.connected && want.state == 3);
        }
    }

    #[test]
    fn a_volume_list_reads_back_as_written(names in proptest::collection::vec(text(), 0..8)) {
        let mut xml = String::from(
            "<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><volList>",
        );
        xml.push_str(&format!("<count>{}</count>", names.len()));
        for name in &names {
            xml.push_str(&format!("<volume>{}</volume>", escape(name)));
        }
        xml.push_str("</volList></cliOutput>");
        prop_assert_eq!(parse_volume_list(xml.as_bytes()).expect("parses"), names);
    }

    #[test]
    fn a_failure_is_gluster_s_whatever_else_the_answer_holds(
        op_ret in -3i32..0,
        errno in any::<i32>(),
        message in text(),
    ) {
        let xml = format!(
            "<cliOutput><opRet>{op_ret}</opRet><opErrno>{errno}</opErrno>\
             <opErrstr>{}</opErrstr><volList><volume>x</volume></volList></cliOutput>",
            escape(&message)
        );
        match parse_volume_list(xml.as_bytes()) {
            Err(brickyard_gluster::ReplyError::Op(failure)) => {
                prop_assert_eq!(failure.op_ret, op_ret);
                prop_assert_eq!(failure.op_errno, errno);
                prop_assert_eq!(failure.op_errstr, message);
            }
            other => prop_assert!(false, "expected gluster's failure, got {:?}", other),
        }
    }
}
