//! Users: `UserId` and the `Profile` the user directory keeps for each.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError, ValidationErrors};

/// A user id as the host app names its users: 1–128 characters, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(Arc<str>);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let length = raw.chars().count();
        if !(1..=128).contains(&length) {
            return Err(ValidationError::new("length").with_message("must be 1 to 128 characters long".into()));
        }
        printable(raw)?;
        Ok(Self(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the directory knows of a user; shown to the other viewers of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub id: UserId,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// A profile as a client or a token states it, before it is checked.
#[derive(Debug, Deserialize, Validate)]
pub struct ProfileFields {
    pub id: String,
    #[validate(length(min = 1, max = 100), custom(function = "printable"))]
    pub name: Option<String>,
    #[validate(length(max = 2048), url, custom(function = "web_url"))]
    pub avatar: Option<String>,
    #[validate(length(min = 1, max = 64), custom(function = "printable"))]
    pub role: Option<String>,
}

impl TryFrom<ProfileFields> for Profile {
    type Error = ValidationErrors;

    fn try_from(fields: ProfileFields) -> Result<Self, Self::Error> {
        let mut errors = fields.validate().err().unwrap_or_default();
        let id = UserId::parse(&fields.id).map_err(|e| errors.add("id", e));
        match id {
            Ok(id) if errors.is_empty() => Ok(Profile {
                // A user without a display name is shown by id rather than as a blank.
                name: fields.name.unwrap_or_else(|| id.to_string()),
                id,
                avatar: fields.avatar,
                role: fields.role,
            }),
            _ => Err(errors),
        }
    }
}

fn printable(value: &str) -> Result<(), ValidationError> {
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new("control").with_message("must not contain control characters".into()));
    }
    Ok(())
}

/// Avatars end up in `<img src>` on other users' pages, so only web URLs are allowed; and
/// every answer promises a URI (RFC 3986), so one that a browser would first have to encode
/// (a space, a non-ASCII character) is refused rather than passed on as is.
fn web_url(value: &str) -> Result<(), ValidationError> {
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        return Err(ValidationError::new("scheme").with_message("must be an http:// or https:// URL".into()));
    }
    if fluent_uri::Uri::parse(value).is_err() {
        let message = "must be written as a URI (RFC 3986): percent-encode spaces and non-ASCII characters";
        return Err(ValidationError::new("uri").with_message(message.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(id: &str, name: Option<&str>, avatar: Option<&str>, role: Option<&str>) -> ProfileFields {
        ProfileFields {
            id: id.into(),
            name: name.map(Into::into),
            avatar: avatar.map(Into::into),
            role: role.map(Into::into),
        }
    }

    #[test]
    fn a_missing_name_falls_back_to_the_id() {
        let profile = Profile::try_from(fields("u1", None, None, None)).unwrap();
        assert_eq!(profile.name, "u1");
    }

    #[test]
    fn rejects_bad_fields_by_name() {
        let long = "x".repeat(129);
        for (input, field) in [
            (fields("", Some("A"), None, None), "id"),
            (fields(&long, Some("A"), None, None), "id"),
            (fields("u\u{0}", Some("A"), None, None), "id"),
            (fields("u1", Some(""), None, None), "name"),
            (fields("u1", Some("A\nB"), None, None), "name"),
            (fields("u1", Some("A"), Some("javascript:alert(1)"), None), "avatar"),
            (fields("u1", Some("A"), Some("not a url"), None), "avatar"),
            (fields("u1", Some("A"), Some("https://\u{cf}"), None), "avatar"),
            (fields("u1", Some("A"), Some("https://example.com/a b.png"), None), "avatar"),
            (fields("u1", Some("A"), None, Some("")), "role"),
        ] {
            let errors = Profile::try_from(input).expect_err(field);
            assert!(errors.field_errors().contains_key(field), "{field}: {errors:?}");
        }
    }
}
