//! E-mail through the configured SMTP relay (lettre; STARTTLS or implicit
//! TLS via rustls with ring). One SMTP session per message: alerts are
//! rare, and a pooled connection would only go stale between them.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::DeliveryError;
use crate::alerts::body::Rendered;
use crate::alerts::config::{SmtpConfig, SmtpTls};

/// An e-mail route: the relay and the envelope.
#[derive(Clone)]
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email").field("from", &self.from).field("to", &self.to).finish_non_exhaustive()
    }
}

impl Email {
    /// `password` comes from `smtp.password_file` (read once at start-up).
    pub fn new(
        smtp: &SmtpConfig,
        password: Option<String>,
        from: &str,
        to: &[String],
        timeout: std::time::Duration,
    ) -> Result<Email, DeliveryError> {
        let mailbox = |a: &str| a.parse::<Mailbox>().map_err(|e| DeliveryError::Setup(format!("address {a}: {e}")));
        let tls = match smtp.tls {
            SmtpTls::None => Tls::None,
            mode => {
                let params = TlsParameters::new(smtp.host.clone())
                    .map_err(|e| DeliveryError::Setup(format!("TLS for {}: {e}", smtp.host)))?;
                if mode == SmtpTls::Tls { Tls::Wrapper(params) } else { Tls::Required(params) }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&smtp.username, password) {
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Email {
            transport: builder.build(),
            from: mailbox(from)?,
            to: to.iter().map(|t| mailbox(t)).collect::<Result<_, _>>()?,
        })
    }

    pub async fn send(&self, message: &Rendered) -> Result<(), DeliveryError> {
        let mut builder = Message::builder().from(self.from.clone()).subject(message.subject.clone());
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let email = builder
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.clone())
            .map_err(|e| DeliveryError::Setup(format!("building the e-mail: {e}")))?;
        self.transport.send(email).await.map(|_| ()).map_err(|e| DeliveryError::Smtp(e.to_string()))
    }
}
