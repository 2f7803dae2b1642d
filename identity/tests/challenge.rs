//! The challenge message: exact text, round trip, strict parsing.

mod vectors;

use circles_identity::{
    CHALLENGE_HEADER, ChallengeMessage, ChallengeParseError, KeyError, PublicKey, SecretKey,
    new_nonce, verify_personal,
};
use vectors::*;

fn fixed() -> ChallengeMessage {
    ChallengeMessage {
        circle_id: "demo-circle".to_owned(),
        circle_key: PublicKey::from_hex(CIRCLE_PUBLIC_KEY).unwrap(),
        caller_key: PublicKey::from_hex(PUBLIC_KEY_UNCOMPRESSED).unwrap(),
        nonce: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".to_owned(),
        expires_at: 1_700_000_300,
    }
}

#[test]
fn exact_text_for_a_fixed_input() {
    let expected = "circles wants you to sign in\n\
                    circle: demo-circle\n\
                    circle-key: 0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\n\
                    public-key: 024e3b81af9c2234cad09d679ce6035ed1392347ce64ce405f5dcd36228a25de6e\n\
                    nonce: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n\
                    expires-at: 1700000300";
    assert_eq!(fixed().render(), expected);
    assert_eq!(fixed().to_string(), expected);
    assert_eq!(expected, CHALLENGE_MESSAGE);
    assert!(!expected.ends_with('\n'));
    assert_eq!(expected.lines().next(), Some(CHALLENGE_HEADER));
}

#[test]
fn render_parse_round_trip() {
    assert_eq!(ChallengeMessage::parse(&fixed().render()), Ok(fixed()));
    for _ in 0..20 {
        let message = ChallengeMessage {
            circle_id: "c-0-z".to_owned(),
            circle_key: SecretKey::generate().public_key(),
            caller_key: SecretKey::generate().public_key(),
            nonce: new_nonce(),
            expires_at: u64::MAX,
        };
        assert_eq!(ChallengeMessage::parse(&message.render()), Ok(message));
    }
    let zero = ChallengeMessage {
        expires_at: 0,
        ..fixed()
    };
    assert_eq!(ChallengeMessage::parse(&zero.render()), Ok(zero));
}

#[test]
fn signing_the_rendered_challenge_verifies() {
    let caller = SecretKey::generate();
    let message = ChallengeMessage {
        caller_key: caller.public_key(),
        nonce: new_nonce(),
        ..fixed()
    }
    .render();
    let signature = caller.sign_personal(&message);
    assert_eq!(
        verify_personal(&caller.public_key(), &message, &signature),
        Ok(())
    );
}

fn replace_line(index: usize, line: &str) -> String {
    let mut lines: Vec<String> = fixed().render().lines().map(str::to_owned).collect();
    lines[index] = line.to_owned();
    lines.join("\n")
}

#[test]
fn malformed_challenges_are_rejected() {
    let text = fixed().render();
    let upper_key = format!("circle-key: {}", CIRCLE_PUBLIC_KEY.to_uppercase());
    let prefixed_key = format!("circle-key: 0x{CIRCLE_PUBLIC_KEY}");
    let long_key = format!("public-key: {PUBLIC_KEY_UNCOMPRESSED}");
    let cases: Vec<(String, ChallengeParseError)> = vec![
        (String::new(), ChallengeParseError::LineCount(1)),
        (format!("{text}\n"), ChallengeParseError::LineCount(7)),
        (text.replace('\n', "\r\n"), ChallengeParseError::Header),
        (
            text.replacen("circles", "Circles", 1),
            ChallengeParseError::Header,
        ),
        (
            replace_line(1, "circle:demo-circle"),
            ChallengeParseError::Field {
                line: 2,
                expected: "circle: ",
            },
        ),
        (
            replace_line(4, "Nonce: 00"),
            ChallengeParseError::Field {
                line: 5,
                expected: "nonce: ",
            },
        ),
        (replace_line(1, "circle: "), ChallengeParseError::CircleId),
        (
            replace_line(1, "circle: Demo"),
            ChallengeParseError::CircleId,
        ),
        (
            replace_line(1, "circle: a b"),
            ChallengeParseError::CircleId,
        ),
        (
            replace_line(2, "circle-key: 02abcd"),
            ChallengeParseError::CircleKey(KeyError::PublicKeyLength(6)),
        ),
        (
            replace_line(3, "public-key: nope"),
            ChallengeParseError::CallerKey(KeyError::PublicKeyNotHex),
        ),
        (
            replace_line(2, &upper_key),
            ChallengeParseError::NotCanonical,
        ),
        (
            replace_line(2, &prefixed_key),
            ChallengeParseError::NotCanonical,
        ),
        (
            replace_line(3, &long_key),
            ChallengeParseError::NotCanonical,
        ),
        (replace_line(4, "nonce: 00"), ChallengeParseError::Nonce),
        (
            replace_line(4, &format!("nonce: {}", "A".repeat(64))),
            ChallengeParseError::Nonce,
        ),
        (
            replace_line(5, "expires-at: "),
            ChallengeParseError::ExpiresAt,
        ),
        (
            replace_line(5, "expires-at: +5"),
            ChallengeParseError::ExpiresAt,
        ),
        (
            replace_line(5, "expires-at: -5"),
            ChallengeParseError::ExpiresAt,
        ),
        (
            replace_line(5, "expires-at: 1.5"),
            ChallengeParseError::ExpiresAt,
        ),
        (
            replace_line(5, "expires-at: 18446744073709551616"),
            ChallengeParseError::ExpiresAt,
        ),
        (
            replace_line(5, "expires-at: 0017"),
            ChallengeParseError::NotCanonical,
        ),
        (
            replace_line(5, "expires-at: 1700000300 "),
            ChallengeParseError::ExpiresAt,
        ),
    ];
    for (input, error) in cases {
        assert_eq!(ChallengeMessage::parse(&input), Err(error), "{input:?}");
    }
}

#[test]
fn parse_error_texts() {
    assert_eq!(
        ChallengeParseError::LineCount(7).to_string(),
        "challenge message must have exactly 6 lines, found 7"
    );
    assert_eq!(
        ChallengeParseError::Field {
            line: 5,
            expected: "nonce: "
        }
        .to_string(),
        "challenge message line 5 must start with \"nonce: \""
    );
    assert_eq!(
        ChallengeParseError::CircleKey(KeyError::PublicKeyNotHex).to_string(),
        "challenge message has an invalid circle key: public key is not valid hex"
    );
}
