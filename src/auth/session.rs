//! `TypedSession`: the session cookie, holding the signed-in user's id and nothing else.

use std::future::{ready, Ready};

use actix_session::{Session, SessionExt, SessionInsertError};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::domain::UserId;

pub struct TypedSession(Session);

impl TypedSession {
    const USER_ID_KEY: &'static str = "user_id";

    /// Signs `user` in under a fresh session id, so a session planted before sign-in is useless.
    pub fn sign_in(&self, user: &UserId) -> Result<(), SessionInsertError> {
        self.0.renew();
        self.0.insert(Self::USER_ID_KEY, user.as_str())
    }

    /// The signed-in user; a session whose content does not parse counts as signed out.
    pub fn user_id(&self) -> Option<UserId> {
        let raw: String = self.0.get(Self::USER_ID_KEY).ok()??;
        UserId::parse(&raw).ok()
    }

    pub fn sign_out(&self) {
        self.0.purge();
    }
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Self(req.get_session())))
    }
}
