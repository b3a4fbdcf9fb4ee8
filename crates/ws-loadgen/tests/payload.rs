//! Unit tests of the payload header: round trips, and every kind of damage detected.

use tokio_tungstenite::tungstenite::Message;
use ws_loadgen::payload::{
    self, Encoding, HEADER_LEN_BINARY, HEADER_LEN_TEXT, Kind, PayloadCodec, PayloadError,
};

fn bytes_of(m: &Message) -> Vec<u8> {
    match m {
        Message::Binary(b) => b.to_vec(),
        Message::Text(t) => t.as_bytes().to_vec(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn binary_round_trip_carries_every_field() {
    let c = PayloadCodec::new(Encoding::Binary, 1000).expect("codec");
    let m = c.encode(Kind::Data, 7, 123_456_789, 42_000);
    assert!(matches!(m, Message::Binary(_)));
    assert_eq!(bytes_of(&m).len(), 1000);
    let h = payload::decode(&m, Encoding::Binary, true).expect("valid");
    assert_eq!(
        (h.kind, h.sender, h.seq, h.sent_ns, h.len),
        (Kind::Data, 7, 123_456_789, 42_000, 1000)
    );
}

#[test]
fn text_round_trip_is_valid_utf8_and_decodes() {
    let c = PayloadCodec::new(Encoding::Text, 700).expect("codec");
    let m = c.encode(Kind::Hello, 3, 9, 1);
    let Message::Text(t) = &m else {
        panic!("text expected")
    };
    assert!(t.is_ascii());
    let h = payload::decode(&m, Encoding::Text, true).expect("valid");
    assert_eq!((h.kind, h.sender, h.seq, h.len), (Kind::Hello, 3, 9, 700));
}

#[test]
fn the_header_alone_is_a_valid_message() {
    for (enc, n) in [
        (Encoding::Binary, HEADER_LEN_BINARY),
        (Encoding::Text, HEADER_LEN_TEXT),
    ] {
        let c = PayloadCodec::new(enc, n).expect("codec");
        payload::decode(&c.encode(Kind::Data, 1, 2, 3), enc, true).expect("valid");
    }
}

#[test]
fn a_size_below_the_header_is_a_clear_error() {
    let e = PayloadCodec::new(Encoding::Binary, 31).expect_err("too small");
    assert_eq!(
        e,
        PayloadError::TooSmall {
            size: 31,
            header: 32,
            encoding: Encoding::Binary
        }
    );
    assert!(
        e.to_string().contains("smaller than the 32 B header"),
        "{e}"
    );
    assert!(PayloadCodec::new(Encoding::Text, 63).is_err());
    assert!(matches!(
        PayloadCodec::new(Encoding::Binary, (16 << 20) + 1),
        Err(PayloadError::TooLarge(_))
    ));
}

#[test]
fn every_flipped_byte_is_detected() {
    let c = PayloadCodec::new(Encoding::Binary, 600).expect("codec");
    let good = bytes_of(&c.encode(Kind::Data, 5, 77, 99));
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        assert!(
            payload::decode_bytes(&bad, Encoding::Binary, true).is_err(),
            "flip at byte {i} not detected"
        );
    }
}

#[test]
fn body_damage_is_not_checked_without_verification_but_header_damage_is() {
    let c = PayloadCodec::new(Encoding::Binary, 100).expect("codec");
    let good = bytes_of(&c.encode(Kind::Data, 5, 77, 99));
    let mut body = good.clone();
    body[80] ^= 0xff;
    assert!(payload::decode_bytes(&body, Encoding::Binary, false).is_ok());
    assert!(matches!(
        payload::decode_bytes(&body, Encoding::Binary, true),
        Err(PayloadError::BodyMismatch(_))
    ));
    let mut head = good;
    head[9] ^= 0xff;
    assert_eq!(
        payload::decode_bytes(&head, Encoding::Binary, false),
        Err(PayloadError::BadChecksum)
    );
}

#[test]
fn truncation_and_padding_are_length_mismatches() {
    let c = PayloadCodec::new(Encoding::Binary, 100).expect("codec");
    let good = bytes_of(&c.encode(Kind::Data, 1, 1, 1));
    assert_eq!(
        payload::decode_bytes(&good[..60], Encoding::Binary, false),
        Err(PayloadError::LengthMismatch {
            expected: 100,
            actual: 60
        })
    );
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(
        payload::decode_bytes(&long, Encoding::Binary, false),
        Err(PayloadError::LengthMismatch { .. })
    ));
    assert_eq!(
        payload::decode_bytes(&good[..10], Encoding::Binary, false),
        Err(PayloadError::Short(10))
    );
}

#[test]
fn swapped_bodies_between_messages_are_detected() {
    let c = PayloadCodec::new(Encoding::Binary, 300).expect("codec");
    let a = bytes_of(&c.encode(Kind::Data, 1, 10, 0));
    let b = bytes_of(&c.encode(Kind::Data, 1, 11, 0));
    let mut mixed = a[..HEADER_LEN_BINARY].to_vec();
    mixed.extend_from_slice(&b[HEADER_LEN_BINARY..]);
    assert!(payload::decode_bytes(&mixed, Encoding::Binary, true).is_err());
}

#[test]
fn a_changed_message_type_is_detected() {
    let c = PayloadCodec::new(Encoding::Text, 100).expect("codec");
    let Message::Text(t) = c.encode(Kind::Data, 1, 1, 1) else {
        panic!("text expected")
    };
    let as_binary = Message::Binary(t.as_bytes().to_vec().into());
    assert_eq!(
        payload::decode(&as_binary, Encoding::Text, true),
        Err(PayloadError::WrongType(Encoding::Text))
    );
}

#[test]
fn foreign_messages_are_rejected() {
    assert_eq!(
        payload::decode_bytes(&[0u8; 64], Encoding::Binary, true),
        Err(PayloadError::BadMagic)
    );
    assert_eq!(
        payload::decode_bytes(&[b'z'; 64], Encoding::Text, true),
        Err(PayloadError::BadHex)
    );
}
