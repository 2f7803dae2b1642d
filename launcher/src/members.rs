//! `launcher add-member`: makes a public key a member of one circle of a `circles.json`,
//! editing the file in place (every other field kept as it is).

use std::path::Path;

use circles_identity::PublicKey;
use serde_json::Value;

use crate::error::ConfigError;

/// What `add_member` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The key is now a member.
    Added,
    /// The key was a member already; the file is unchanged.
    AlreadyMember,
}

/// Adds `key` to the `members` of circle `id` in the file at `path`. The file must be a
/// valid config before the edit (a port in use is fine: the launcher may be running); it is
/// replaced atomically (a temporary file renamed over it), so a failure leaves it as it was.
/// A running launcher reads it at its next start.
pub fn add_member(path: &Path, id: &str, key: &PublicKey) -> Result<Added, Vec<ConfigError>> {
    let file = path.display().to_string();
    check_format(path)?;
    let text = std::fs::read_to_string(path).map_err(|source| {
        vec![ConfigError::Unreadable {
            file: file.clone(),
            source,
        }]
    })?;
    let invalid = |at: &str, message: &str| vec![ConfigError::invalid(&file, at, message)];
    let mut circles: Value =
        serde_json::from_str(&text).map_err(|e| invalid("", &e.to_string()))?;
    let Some(index) = circles
        .as_array()
        .and_then(|all| all.iter().position(|c| c["id"] == id))
    else {
        return Err(invalid(
            "",
            &format!("there is no circle with the id {id:?}"),
        ));
    };
    let circle = &mut circles[index];
    let members = circle.as_object_mut().map(|fields| {
        fields
            .entry("members")
            .or_insert_with(|| Value::Array(Vec::new()))
    });
    let Some(Value::Array(members)) = members else {
        return Err(invalid(&format!("[{index}].members"), "is not an array"));
    };
    let already = members.iter().any(|member| {
        member
            .as_str()
            .and_then(|hex| PublicKey::from_hex(hex).ok())
            .is_some_and(|member| member == *key)
    });
    if already {
        return Ok(Added::AlreadyMember);
    }
    members.push(Value::String(key.to_hex()));
    let mut edited =
        serde_json::to_string_pretty(&circles).map_err(|e| invalid("", &e.to_string()))?;
    edited.push('\n');
    let temporary = path.with_extension("json.editing");
    let written =
        std::fs::write(&temporary, edited).and_then(|()| std::fs::rename(&temporary, path));
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(vec![ConfigError::Unreadable { file, source }]);
    }
    check_format(path)?;
    Ok(Added::Added)
}

/// The file's problems, leaving out what only matters to start it (a port in use: the
/// launcher may well be running).
fn check_format(path: &Path) -> Result<(), Vec<ConfigError>> {
    match crate::check(path) {
        Ok(_) => Ok(()),
        Err(errors) => {
            let errors: Vec<ConfigError> = errors
                .into_iter()
                .filter(|error| !matches!(error, ConfigError::Unavailable { .. }))
                .collect();
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors)
            }
        }
    }
}
