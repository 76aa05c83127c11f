//! The TLS and token flags of the coordinator and of its clients (docs/security.md).
//! Token values are only ever read from files or the environment: a flag's value is
//! visible to every user of the machine in the process list.

use anyhow::Context;
use clap::Args;
use pathnet_coordinator::server::auth::Tokens;
use pathnet_coordinator::server::{Security, ServerTls};
use pathnet_proto::security::{ClientTlsFiles, Token, read_pem};
use std::path::PathBuf;

/// The coordinator's side: its certificate, the client authority, the tokens it accepts.
#[derive(Args, Clone, Default)]
pub(crate) struct ServerSecurityArgs {
    /// Serve gRPC over TLS with this PEM certificate (chain); needs --tls-key.
    #[arg(
        long,
        env = "PATHNET_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "PATHNET_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this PEM authority (mutual TLS).
    #[arg(
        long,
        env = "PATHNET_TLS_CLIENT_CA",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
    /// File holding the token agents must present to join and work (and watchers to
    /// watch); else the environment variable PATHNET_AGENT_TOKEN.
    #[arg(long, env = "PATHNET_AGENT_TOKEN_FILE", value_name = "FILE")]
    pub agent_token_file: Option<PathBuf>,
    /// File holding the token that may start and stop experiments (and do anything an
    /// agent may); else the environment variable PATHNET_ADMIN_TOKEN.
    #[arg(long, env = "PATHNET_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// File holding the token the metrics listener (`/metrics`, the dashboard) requires,
    /// as a bearer token or a Basic password; `/healthz` stays open. Else the environment
    /// variable PATHNET_METRICS_TOKEN; without either the listener is open.
    #[arg(long, env = "PATHNET_METRICS_TOKEN_FILE", value_name = "FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// Serve the metrics listener (`/metrics`, the dashboard, `/healthz`) over HTTPS only,
    /// with this PEM certificate (chain); needs --metrics-tls-key. May be the same file as
    /// --tls-cert when that certificate names the address scrapers use.
    #[arg(
        long,
        env = "PATHNET_METRICS_TLS_CERT",
        value_name = "FILE",
        requires = "metrics_tls_key"
    )]
    pub metrics_tls_cert: Option<PathBuf>,
    /// The PEM private key of --metrics-tls-cert.
    #[arg(
        long,
        env = "PATHNET_METRICS_TLS_KEY",
        value_name = "FILE",
        requires = "metrics_tls_cert"
    )]
    pub metrics_tls_key: Option<PathBuf>,
}

impl ServerSecurityArgs {
    pub(crate) fn security(&self) -> anyhow::Result<Security> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(ServerTls {
                cert_pem: read_pem(cert, "`--tls-cert`")?,
                key_pem: read_pem(key, "`--tls-key`")?,
                client_ca_pem: self
                    .tls_client_ca
                    .as_deref()
                    .map(|ca| read_pem(ca, "`--tls-client-ca`"))
                    .transpose()?,
            }),
            _ => None,
        };
        let tokens = Tokens {
            agent: Token::from_file_or_env(
                self.agent_token_file.as_deref(),
                "`--agent-token-file`",
                "PATHNET_AGENT_TOKEN",
            )?,
            admin: Token::from_file_or_env(
                self.admin_token_file.as_deref(),
                "`--admin-token-file`",
                "PATHNET_ADMIN_TOKEN",
            )?,
        };
        if let (Some(agent), Some(admin)) = (&tokens.agent, &tokens.admin)
            && agent == admin
        {
            anyhow::bail!(
                "the agent token and the admin token are the same: every agent could start \
                 and stop experiments; make them differ"
            );
        }
        Ok(Security { tls, tokens })
    }

    /// The metrics listener's certificate and key, read (and checked when served).
    pub(crate) fn metrics_tls(&self) -> anyhow::Result<Option<ServerTls>> {
        match (&self.metrics_tls_cert, &self.metrics_tls_key) {
            (Some(cert), Some(key)) => Ok(Some(ServerTls {
                cert_pem: read_pem(cert, "`--metrics-tls-cert`")?,
                key_pem: read_pem(key, "`--metrics-tls-key`")?,
                client_ca_pem: None,
            })),
            _ => Ok(None),
        }
    }

    /// The token of the metrics listener, which must differ from the gRPC tokens: it sits
    /// in the scraper's configuration, which should not be able to join or start anything.
    pub(crate) fn metrics_token(&self, grpc: &Tokens) -> anyhow::Result<Option<Token>> {
        let token = Token::from_file_or_env(
            self.metrics_token_file.as_deref(),
            "`--metrics-token-file`",
            "PATHNET_METRICS_TOKEN",
        )?;
        if let Some(metrics) = &token
            && [&grpc.agent, &grpc.admin]
                .into_iter()
                .flatten()
                .any(|t| t == metrics)
        {
            anyhow::bail!(
                "the metrics token is the same as the agent or the admin token: whoever \
                 scrapes metrics could then join or start experiments; make it differ"
            );
        }
        Ok(token)
    }
}

/// A client's side: what it trusts and the certificate it shows.
#[derive(Args, Clone, Default)]
pub(crate) struct ClientTlsArgs {
    /// PEM certificate of the authority that signed the coordinator's certificate; needed
    /// for an https:// coordinator.
    #[arg(long, env = "PATHNET_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// This client's PEM certificate, for a coordinator that requires one (mutual TLS).
    #[arg(
        long,
        env = "PATHNET_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "PATHNET_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// The name the coordinator's certificate must carry, when not the URL's host.
    #[arg(long, env = "PATHNET_TLS_SERVER_NAME", value_name = "NAME")]
    pub tls_server_name: Option<String>,
}

impl ClientTlsArgs {
    pub(crate) fn files(&self) -> ClientTlsFiles {
        ClientTlsFiles {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            server_name: self.tls_server_name.clone(),
        }
    }
}

/// The agent token a client presents: `--agent-token-file`, else PATHNET_AGENT_TOKEN.
pub(crate) fn agent_token(file: Option<&std::path::Path>) -> anyhow::Result<Option<Token>> {
    Token::from_file_or_env(file, "`--agent-token-file`", "PATHNET_AGENT_TOKEN")
        .context("reading the agent token")
}

/// An operator's token: `--token-file`, else PATHNET_TOKEN.
pub(crate) fn operator_token(file: Option<&std::path::Path>) -> anyhow::Result<Option<Token>> {
    Token::from_file_or_env(file, "`--token-file`", "PATHNET_TOKEN").context("reading the token")
}
