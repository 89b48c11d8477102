//! JWTs the host app signs: verified with an HS256 secret or a public key, minted for tools.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::configuration::Settings;
use crate::domain::time::unix_seconds;
use crate::domain::{Profile, ProfileFields};
use crate::error::ApiError;

/// The claims we read; `sub` and `exp` are required, the profile claims are optional.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
}

pub struct TokenVerifier {
    hs256: Option<DecodingKey>,
    public_key: Option<(Algorithm, DecodingKey)>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl TokenVerifier {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let hs256 = settings.jwt_secret.as_ref().map(|secret| {
            if secret.expose_secret().len() < 32 {
                tracing::warn!("PRESENCE_JWT_SECRET is shorter than 32 bytes; HS256 secrets that short can be guessed");
            }
            DecodingKey::from_secret(secret.expose_secret().as_bytes())
        });
        let public_key = match &settings.jwt_public_key_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("reading PRESENCE_JWT_PUBLIC_KEY_FILE {}", path.display()))?;
                Some(public_key(&pem).with_context(|| format!("loading the public key in {}", path.display()))?)
            }
            None => None,
        };
        if hs256.is_none() && public_key.is_none() {
            tracing::warn!(
                "neither PRESENCE_JWT_SECRET nor PRESENCE_JWT_PUBLIC_KEY_FILE is set: every token is refused"
            );
        }
        Ok(Self { hs256, public_key, issuer: settings.jwt_issuer.clone(), audience: settings.jwt_audience.clone() })
    }

    /// Checks the signature, expiry and (when configured) issuer and audience, and answers
    /// the profile the token states.
    pub fn verify(&self, token: &str) -> Result<Profile, ApiError> {
        let refuse = |why: String| ApiError::Unauthorized(format!("the token was refused: {why}"));
        let header = decode_header(token).map_err(|e| refuse(e.to_string()))?;
        // The key decides the algorithm, never the token, so an RS256 public key can't be
        // used as an HS256 secret.
        let key = match (&self.hs256, &self.public_key) {
            (Some(secret), _) if header.alg == Algorithm::HS256 => secret,
            (_, Some((algorithm, key))) if header.alg == *algorithm => key,
            _ => return Err(refuse(format!("{:?} tokens are not accepted here", header.alg))),
        };
        let mut validation = Validation::new(header.alg);
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let claims = decode::<Claims>(token, key, &validation).map_err(|e| refuse(e.to_string()))?.claims;
        Profile::try_from(ProfileFields {
            id: claims.sub,
            name: claims.name,
            avatar: claims.picture,
            role: claims.role,
        })
        // The claim is called `picture` where the profile says `avatar`.
        .map_err(|errors| refuse(format!("its profile claims are not valid ({errors})").replace("avatar", "picture")))
    }
}

fn public_key(pem: &[u8]) -> anyhow::Result<(Algorithm, DecodingKey)> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok((Algorithm::RS256, key));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Ok((Algorithm::ES256, key));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        return Ok((Algorithm::EdDSA, key));
    }
    bail!("not a PEM public key of type RSA, EC (P-256) or Ed25519")
}

/// What `presence token` prints: an HS256 token for `profile`, valid for `ttl`.
pub fn mint(settings: &Settings, profile: &Profile, ttl: Duration) -> anyhow::Result<String> {
    let Some(secret) = &settings.jwt_secret else {
        bail!("set PRESENCE_JWT_SECRET (or --jwt-secret): `presence token` signs with it")
    };
    let exp = unix_seconds(SystemTime::now() + ttl);
    let claims = Claims {
        sub: profile.id.to_string(),
        exp,
        name: Some(profile.name.clone()),
        picture: profile.avatar.clone(),
        role: profile.role.clone(),
        iss: settings.jwt_issuer.clone(),
        aud: settings.jwt_audience.clone(),
    };
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes());
    Ok(encode(&Header::new(Algorithm::HS256), &claims, &key)?)
}
