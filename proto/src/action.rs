//! Containment actions on the wire (issue 16): the controller signs each
//! action with its Ed25519 action key; an agent runs one only when the
//! signature verifies against the public key in its own configuration, the
//! action names this host and it has not expired. A stolen controller TLS
//! identity is therefore not enough to make agents act, and an action
//! captured for one host cannot be replayed to another.

use prost::Message;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::v1::{ContainmentAction, SignedAction};

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;

/// Why a signed action is not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("the action's signature does not verify against this agent's controller action key")]
    BadSignature,
    #[error("the action bytes do not decode: {0}")]
    Decode(String),
    #[error("the action is for {for_host}, not for this host ({this_host})")]
    WrongHost { for_host: String, this_host: String },
    #[error("the action expired at {expires_ms} (now {now_ms})")]
    Expired { expires_ms: i64, now_ms: i64 },
    #[error("the action key is not valid: {0}")]
    Key(String),
}

/// The controller's signing key (PKCS#8 v2 Ed25519, as [`generate_key`] writes it).
#[derive(Debug)]
pub struct ActionKey(Ed25519KeyPair);

impl ActionKey {
    /// Reads a PKCS#8 document.
    pub fn from_pkcs8(der: &[u8]) -> Result<ActionKey, ActionError> {
        Ed25519KeyPair::from_pkcs8(der).map(ActionKey).map_err(|e| ActionError::Key(e.to_string()))
    }

    /// The public key agents verify with.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        let mut out = [0u8; PUBLIC_KEY_LEN];
        out.copy_from_slice(self.0.public_key().as_ref());
        out
    }

    /// Encodes and signs `action`.
    pub fn sign(&self, action: &ContainmentAction) -> SignedAction {
        let bytes = action.encode_to_vec();
        let signature = self.0.sign(&bytes).as_ref().to_vec();
        SignedAction { action: bytes, signature }
    }
}

/// A new PKCS#8 Ed25519 key from the system's random source.
pub fn generate_key() -> Result<Vec<u8>, ActionError> {
    let rng = ring::rand::SystemRandom::new();
    Ed25519KeyPair::generate_pkcs8(&rng).map(|d| d.as_ref().to_vec()).map_err(|e| ActionError::Key(e.to_string()))
}

/// The action inside `signed`, if its signature verifies with `public_key`,
/// it is addressed to `host_id` and it has not expired at `now_ms`.
pub fn verify(
    public_key: &[u8],
    signed: &SignedAction,
    host_id: &str,
    now_ms: i64,
) -> Result<ContainmentAction, ActionError> {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&signed.action, &signed.signature)
        .map_err(|_| ActionError::BadSignature)?;
    let action = ContainmentAction::decode(signed.action.as_slice()).map_err(|e| ActionError::Decode(e.to_string()))?;
    if action.host_id != host_id {
        return Err(ActionError::WrongHost { for_host: action.host_id, this_host: host_id.to_string() });
    }
    if action.expires_ms <= now_ms {
        return Err(ActionError::Expired { expires_ms: action.expires_ms, now_ms });
    }
    Ok(action)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn action() -> ContainmentAction {
        ContainmentAction {
            id: "a-1".into(),
            host_id: "web07.example".into(),
            kind: "hold_queue".into(),
            source_id: "info@shop.example".into(),
            expires_ms: 2_000,
            ..Default::default()
        }
    }

    #[test]
    fn only_the_right_key_host_and_time_verify() {
        let key = ActionKey::from_pkcs8(&generate_key().unwrap()).unwrap();
        let other = ActionKey::from_pkcs8(&generate_key().unwrap()).unwrap();
        let signed = key.sign(&action());
        assert_eq!(verify(&key.public_key(), &signed, "web07.example", 1_000).unwrap(), action());
        assert_eq!(verify(&other.public_key(), &signed, "web07.example", 1_000), Err(ActionError::BadSignature));
        assert!(matches!(
            verify(&key.public_key(), &signed, "web08.example", 1_000),
            Err(ActionError::WrongHost { .. })
        ));
        assert!(matches!(verify(&key.public_key(), &signed, "web07.example", 2_000), Err(ActionError::Expired { .. })));
        // A changed byte (another host, a longer expiry) breaks the signature.
        let mut tampered = signed.clone();
        let last = tampered.action.len() - 1;
        tampered.action[last] ^= 1;
        assert_eq!(verify(&key.public_key(), &tampered, "web07.example", 1_000), Err(ActionError::BadSignature));
        assert!(matches!(ActionKey::from_pkcs8(b"not a key"), Err(ActionError::Key(_))));
    }
}
