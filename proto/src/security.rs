//! How a peer proves itself on the wire: bearer tokens in the `authorization` header and
//! TLS settings for clients. Shared by the coordinator (which checks) and every client
//! (which presents), so both read tokens and certificates the same way.
//!
//! Tokens are secrets: they are compared in constant time, never printed (their `Debug`
//! is redacted) and read from a file or an environment variable, never from a flag whose
//! value every user of the machine could see in the process list.

use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::service::Interceptor;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};
use tonic::{Request, Status};

/// The gRPC metadata key a token travels in, as `Bearer <token>`.
pub const AUTHORIZATION: &str = "authorization";

/// Longest token accepted: a token is a random string, not a document.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Why a token or a certificate could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A token or PEM file could not be read.
    #[error("{what} {path}: cannot read it: {reason}")]
    Unreadable {
        /// The setting that named the file, e.g. "`--tls-ca`".
        what: &'static str,
        /// The file as given.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// A token's text is unusable: empty, longer than [`MAX_TOKEN_BYTES`], not printable
    /// ASCII, or (from the environment) not UTF-8. The message never quotes the token.
    #[error("{what} {source_name}: {reason}")]
    BadToken {
        /// Where the token came from, e.g. "`--agent-token-file`" or "environment variable".
        what: &'static str,
        /// The file path or variable name it was read from.
        source_name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// TLS settings that do not fit together or do not load: a missing CA, a certificate
    /// without its key, a file that is not PEM, TLS flags on a plain `http://` URL. The
    /// message names the flag or URL.
    #[error("{0}")]
    Tls(String),
}

/// A bearer token. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A token from its text; surrounding whitespace (a trailing newline from `echo` or a
    /// Kubernetes Secret) is trimmed. `what` and `source_name` name it in errors.
    pub fn parse(
        text: &str,
        what: &'static str,
        source_name: &str,
    ) -> Result<Token, SecurityError> {
        let bad = |reason| SecurityError::BadToken {
            what,
            source_name: source_name.to_owned(),
            reason,
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("is empty"));
        }
        if text.len() > MAX_TOKEN_BYTES {
            return Err(bad("is longer than 4096 bytes"));
        }
        // It must fit an HTTP header value as it is, or it could never be presented.
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad(
                "holds a character other than printable ASCII (spaces included)",
            ));
        }
        Ok(Token(text.to_owned()))
    }

    /// The token in `path`; `what` names it in errors (e.g. "`--agent-token-file`").
    pub fn from_file(path: &Path, what: &'static str) -> Result<Token, SecurityError> {
        let text = std::fs::read_to_string(path).map_err(|err| SecurityError::Unreadable {
            what,
            path: path.to_owned(),
            reason: err.to_string(),
        })?;
        Token::parse(&text, what, &path.display().to_string())
    }

    /// The token in environment variable `var`, `None` when it is unset.
    pub fn from_env(var: &'static str) -> Result<Option<Token>, SecurityError> {
        match std::env::var(var) {
            Ok(text) => Token::parse(&text, "environment variable", var).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecurityError::BadToken {
                what: "environment variable",
                source_name: var.to_owned(),
                reason: "is not valid UTF-8",
            }),
        }
    }

    /// The token from `file` if given, else from `var`, else `None`.
    pub fn from_file_or_env(
        file: Option<&Path>,
        what: &'static str,
        var: &'static str,
    ) -> Result<Option<Token>, SecurityError> {
        match file {
            Some(path) => Token::from_file(path, what).map(Some),
            None => Token::from_env(var),
        }
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        tokens_equal(self.0.as_bytes(), presented)
    }

    /// The `authorization` header value presenting this token.
    fn header(&self) -> AsciiMetadataValue {
        // `parse` admits only printable ASCII, which is always a valid header value.
        format!("Bearer {}", self.0)
            .parse()
            .unwrap_or_else(|_| AsciiMetadataValue::from_static(""))
    }
}

/// Constant-time equality: the time taken depends on the lengths only, never on how many
/// leading bytes agree, so a remote caller cannot find a token byte by byte.
pub fn tokens_equal(expected: &[u8], presented: &[u8]) -> bool {
    expected.ct_eq(presented).into()
}

/// The token presented in `metadata`, if any, without its `Bearer ` prefix.
pub fn presented_token(metadata: &MetadataMap) -> Option<&[u8]> {
    bearer_token(metadata.get(AUTHORIZATION)?.as_bytes())
}

/// The token of an `authorization` header value `Bearer <token>` (the scheme's case
/// ignored, as HTTP says); `None` for any other scheme.
pub fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let prefix = b"Bearer ";
    (value.len() > prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &value[prefix.len()..])
}

/// A client interceptor adding the token (if any) to every call.
#[derive(Clone, Default)]
pub struct BearerAuth {
    header: Option<AsciiMetadataValue>,
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.header.is_some() {
            "<redacted>"
        } else {
            "none"
        };
        write!(f, "BearerAuth({shown})")
    }
}

impl BearerAuth {
    /// An interceptor presenting `token`; with `None` it leaves calls unchanged.
    pub fn new(token: Option<&Token>) -> BearerAuth {
        BearerAuth {
            header: token.map(Token::header),
        }
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(header) = &self.header {
            request.metadata_mut().insert(AUTHORIZATION, header.clone());
        }
        Ok(request)
    }
}

/// A channel whose calls carry a bearer token.
pub type AuthChannel =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, BearerAuth>;

/// What a client trusts and shows when it connects over TLS (`https://` URLs).
#[derive(Clone, Debug, Default)]
pub struct ClientTlsFiles {
    /// PEM certificate(s) of the authority that signed the coordinator's certificate.
    pub ca: Option<PathBuf>,
    /// PEM certificate of this client, for coordinators that require one (mTLS); given
    /// together with `key` or not at all.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// The name to check the coordinator's certificate against, if not the URL's host.
    pub server_name: Option<String>,
}

impl ClientTlsFiles {
    /// Whether any TLS setting was given.
    pub fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some() || self.server_name.is_some()
    }

    /// Reads the files into a client TLS configuration; errors name the flag and path.
    pub fn load(&self) -> Result<ClientTlsConfig, SecurityError> {
        let mut config = ClientTlsConfig::new();
        match &self.ca {
            Some(path) => {
                config = config.ca_certificate(Certificate::from_pem(read_pem(path, "`--tls-ca`")?))
            }
            None => {
                return Err(SecurityError::Tls(
                    "`--tls-ca` is needed for an https:// coordinator: the certificate \
                     authority that signed the coordinator's certificate"
                        .into(),
                ));
            }
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                config = config.identity(Identity::from_pem(
                    read_pem(cert, "`--tls-cert`")?,
                    read_pem(key, "`--tls-key`")?,
                ));
            }
            (None, None) => {}
            _ => {
                return Err(SecurityError::Tls(
                    "`--tls-cert` and `--tls-key` go together: give both or neither".into(),
                ));
            }
        }
        if let Some(name) = &self.server_name {
            config = config.domain_name(name.clone());
        }
        Ok(config)
    }
}

/// A PEM file's bytes; `what` names the flag in errors. The contents are checked by the
/// TLS library when it is configured.
pub fn read_pem(path: &Path, what: &'static str) -> Result<Vec<u8>, SecurityError> {
    let bytes = std::fs::read(path).map_err(|err| SecurityError::Unreadable {
        what,
        path: path.to_owned(),
        reason: err.to_string(),
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(SecurityError::Tls(format!(
            "{what} {}: not a PEM file (no `-----BEGIN` line)",
            path.display()
        )));
    }
    Ok(bytes)
}

/// An endpoint for `url` with `tls` applied: `https://` needs TLS settings, and TLS
/// settings need `https://`, so that a typo never silently sends tokens in plain text.
pub fn endpoint(
    url: &str,
    tls: &ClientTlsFiles,
) -> Result<tonic::transport::Endpoint, SecurityError> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|err| SecurityError::Tls(format!("coordinator URL `{url}`: {err}")))?;
    let https = url.starts_with("https://");
    match (https, tls.any()) {
        (true, _) => endpoint
            .tls_config(tls.load()?)
            .map_err(|err| SecurityError::Tls(format!("TLS settings: {err}"))),
        (false, true) => Err(SecurityError::Tls(format!(
            "coordinator URL `{url}`: TLS flags were given, so the URL must start with https://"
        ))),
        (false, false) => Ok(endpoint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_match_and_others_do_not() {
        assert!(tokens_equal(b"s3cret", b"s3cret"));
        assert!(!tokens_equal(b"s3cret", b"s3creT"));
        assert!(!tokens_equal(b"s3cret", b"s3cre"));
        assert!(!tokens_equal(b"s3cret", b""));
        assert!(!tokens_equal(b"", b"x"));
    }

    #[test]
    fn a_token_file_is_trimmed_of_its_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("pathnet-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "abc123\n").unwrap();
        let token = Token::from_file(&path, "`--agent-token-file`").unwrap();
        assert!(token.matches(b"abc123"));
        assert!(!token.matches(b"abc123\n"));

        std::fs::write(&path, "  \n").unwrap();
        let err = Token::from_file(&path, "`--agent-token-file`")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`--agent-token-file`") && err.contains("is empty"),
            "{err}"
        );
        assert!(err.contains(&path.display().to_string()), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_unreadable_token_file_names_the_flag_and_path() {
        let path = Path::new("/nonexistent/pathnet/token");
        let err = Token::from_file(path, "`--admin-token-file`")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("`--admin-token-file` /nonexistent/pathnet/token: cannot read it"),
            "{err}"
        );
    }

    #[test]
    fn a_token_with_spaces_inside_is_refused() {
        let err = Token::parse("ab cd", "environment variable", "PATHNET_TOKEN")
            .unwrap_err()
            .to_string();
        assert!(err.contains("PATHNET_TOKEN"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let token = Token::parse("hunter2", "test", "test").unwrap();
        let shown = format!("{token:?} {:?}", BearerAuth::new(Some(&token)));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn the_interceptor_presents_the_token_and_the_server_reads_it_back() {
        let token = Token::parse("t0k", "test", "test").unwrap();
        let request = BearerAuth::new(Some(&token))
            .call(Request::new(()))
            .unwrap();
        assert_eq!(presented_token(request.metadata()), Some(&b"t0k"[..]));
        let bare = BearerAuth::new(None).call(Request::new(())).unwrap();
        assert_eq!(presented_token(bare.metadata()), None);
    }

    #[test]
    fn tls_flags_with_a_plain_url_are_refused() {
        let tls = ClientTlsFiles {
            ca: Some("ca.pem".into()),
            ..Default::default()
        };
        let err = endpoint("http://127.0.0.1:1", &tls)
            .unwrap_err()
            .to_string();
        assert!(err.contains("https://"), "{err}");
    }
}
