//! A circle's access policy: its members, and who may run scripts of their
//! own (`play`) or call its published functions (`call`, `list_functions`).

use std::collections::BTreeSet;

use circles_identity::PublicKey;
use serde::{Deserialize, Serialize};

/// Who a circle lets do something.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The circle's members only.
    Members,
    /// Any caller signed in on the connection.
    SignedIn,
    /// Anonymous callers too.
    Anyone,
}

/// What a caller asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run a script of its own.
    Play,
    /// Call a published function, or list them.
    Call,
}

/// Who may do what; in `circles.json` a circle's `"access"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Access {
    /// Who may run scripts of their own with `play` (default: members).
    pub play: Audience,
    /// Who may call published functions and list them (default: signed_in).
    pub call: Audience,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            play: Audience::Members,
            call: Audience::SignedIn,
        }
    }
}

impl Access {
    /// Anyone may do anything, signed in or not.
    pub const OPEN: Access = Access {
        play: Audience::Anyone,
        call: Audience::Anyone,
    };

    /// Whether a connection must sign in before it may do anything at all.
    pub fn requires_sign_in(&self) -> bool {
        self.play != Audience::Anyone && self.call != Audience::Anyone
    }
}

/// A circle's members and its [`Access`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    pub members: BTreeSet<PublicKey>,
    pub access: Access,
}

/// Why the policy refuses a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not signed in, and the action needs a signed-in caller.
    Unauthenticated,
    /// Signed in, but not allowed.
    Forbidden { allowed: Audience, reason: String },
}

impl AccessPolicy {
    /// Whether `caller` (`None`: not signed in) may do `action`; if so, whether it is a member.
    pub fn admit(&self, action: Action, caller: Option<&PublicKey>) -> Result<bool, Refusal> {
        let allowed = match action {
            Action::Play => self.access.play,
            Action::Call => self.access.call,
        };
        let is_member = caller.is_some_and(|key| self.members.contains(key));
        match (allowed, caller) {
            (Audience::Anyone, _) => Ok(is_member),
            (_, None) => Err(Refusal::Unauthenticated),
            (Audience::SignedIn, Some(_)) => Ok(is_member),
            (Audience::Members, Some(_)) if is_member => Ok(true),
            (Audience::Members, Some(key)) => Err(Refusal::Forbidden {
                allowed,
                reason: format!(
                    "only this circle's members may {}; {key} is not one (ask the circle's \
                     owner to add it to `members`)",
                    match action {
                        Action::Play => "run scripts of their own",
                        Action::Call => "call its published functions",
                    }
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use circles_identity::SecretKey;

    use super::*;

    #[test]
    fn each_audience_admits_whom_it_names() {
        let member = SecretKey::generate().public_key();
        let stranger = SecretKey::generate().public_key();
        let policy = |play| AccessPolicy {
            members: BTreeSet::from([member]),
            access: Access {
                play,
                call: Audience::Anyone,
            },
        };
        let members = policy(Audience::Members);
        assert_eq!(members.admit(Action::Play, Some(&member)), Ok(true));
        assert!(matches!(
            members.admit(Action::Play, Some(&stranger)),
            Err(Refusal::Forbidden {
                allowed: Audience::Members,
                ..
            })
        ));
        assert_eq!(
            members.admit(Action::Play, None),
            Err(Refusal::Unauthenticated)
        );
        let signed_in = policy(Audience::SignedIn);
        assert_eq!(signed_in.admit(Action::Play, Some(&stranger)), Ok(false));
        assert_eq!(signed_in.admit(Action::Play, Some(&member)), Ok(true));
        assert_eq!(
            signed_in.admit(Action::Play, None),
            Err(Refusal::Unauthenticated)
        );
        let anyone = policy(Audience::Anyone);
        assert_eq!(anyone.admit(Action::Play, None), Ok(false));
        assert_eq!(anyone.admit(Action::Call, Some(&member)), Ok(true));
    }

    #[test]
    fn defaults_are_members_play_and_signed_in_call() {
        let access = Access::default();
        assert_eq!(
            (access.play, access.call),
            (Audience::Members, Audience::SignedIn)
        );
        assert!(access.requires_sign_in());
        assert!(!Access::OPEN.requires_sign_in());
    }
}
