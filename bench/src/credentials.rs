//! The credentials of the systems under test. Every route of `alpes` but `/health`,
//! `/ready` and `/openapi.json` needs a bearer token, and the benchmarks measure that
//! production path: a token verified on every request.
//!
//! Each system under test gets a fresh random HS256 secret (`ALPES_JWT_SECRET`), so no
//! secret is written down anywhere. The admin token its clients send is issued by the
//! `alpes` binary under test itself (`alpes token issue`): a run against another build's
//! binary signs with that build's own code. Only `lag`, whose application runs in this
//! process (this build), mints its token in process.

use anyhow::Context;
use auth::{Issuer, Principal, Role, TokenSettings};
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The subject of the bench's token, as the event log records it.
const SUBJECT: &str = "bench";
/// How long the token is valid, in hours: longer than any run (a 10-minute soak, or a
/// full `all` with its rounds).
const TOKEN_TTL_HOURS: u64 = 24;
/// Variables of the bench's own environment that would change how a child process
/// authenticates (another key, an issuer or audience the token lacks, no authentication
/// at all, open routes): removed, so that the secret given is the only configuration.
const INHERITED_AUTH_VARIABLES: &[&str] = &[
    "ALPES_JWT_SECRET",
    "ALPES_JWT_PUBLIC_KEY",
    "ALPES_JWT_ISSUER",
    "ALPES_JWT_AUDIENCE",
    "ALPES_INSECURE_NO_AUTH",
    "ALPES_BFF_OPEN",
];

/// A system's signing secret and an admin token signed with it. No `Debug`: neither
/// may end up in output.
pub struct Credentials {
    secret: SecretString,
    token: SecretString,
}

impl Credentials {
    /// A fresh secret, and an admin token issued by `binary token issue` with it.
    pub fn issued_by(binary: &Path) -> anyhow::Result<Self> {
        Self::issued_by_with(binary, random_secret()?)
    }

    fn issued_by_with(binary: &Path, secret: SecretString) -> anyhow::Result<Self> {
        let ttl = format!("{TOKEN_TTL_HOURS}h");
        let mut command = Command::new(binary);
        command.args([
            "token", "issue", "--role", "admin", "--sub", SUBJECT, "--ttl", &ttl,
        ]);
        configure(&mut command, &secret);
        let output = command
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {} token issue", binary.display()))?;
        anyhow::ensure!(
            output.status.success(),
            "{} token issue failed ({}): {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        let token = String::from_utf8(output.stdout)
            .ok()
            .map(|stdout| stdout.trim().to_owned())
            .filter(|token| HeaderValue::from_str(&format!("Bearer {token}")).is_ok())
            .filter(|token| !token.is_empty() && !token.contains(char::is_whitespace));
        let token = token.with_context(|| {
            format!(
                "{} token issue printed no token (one line on stdout expected)",
                binary.display()
            )
        })?;
        Ok(Credentials {
            secret,
            token: token.into(),
        })
    }

    /// A fresh secret, and an admin token minted in this process: for an application
    /// built in this process (this build's code on both sides).
    pub fn in_process() -> anyhow::Result<Self> {
        let secret = random_secret()?;
        let settings = TokenSettings::secret(secret.expose_secret());
        let token = Issuer::new(&settings)?.issue(
            &Principal::new(SUBJECT, Role::Admin),
            Duration::from_secs(TOKEN_TTL_HOURS * 3600),
        )?;
        Ok(Credentials {
            secret,
            token: token.into(),
        })
    }

    /// What an application built in process verifies tokens with.
    pub fn token_settings(&self) -> TokenSettings {
        TokenSettings::secret(self.secret.expose_secret())
    }

    /// Gives `command`, an `alpes` process, what it needs to verify the tokens: the
    /// secret, and none of the bench's own authentication variables.
    pub fn configure<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        configure(command, &self.secret)
    }

    /// An HTTP client whose every request carries the admin token, to build on.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.token.expose_secret()))
            .expect("the token was checked to be a header value");
        // Left out of the client's Debug output.
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value);
        reqwest::Client::builder().default_headers(headers)
    }

    /// An HTTP client whose every request carries the admin token.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        Ok(self.client_builder().build()?)
    }
}

fn configure<'c>(command: &'c mut Command, secret: &SecretString) -> &'c mut Command {
    for variable in INHERITED_AUTH_VARIABLES {
        command.env_remove(variable);
    }
    command.env("ALPES_JWT_SECRET", secret.expose_secret())
}

/// 256 random bits, base64url without padding: 43 characters, as the embedded default's
/// secret.
fn random_secret() -> anyhow::Result<SecretString> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system's random number generator failed"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bytes)
        .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    /// Held while a fake binary is written and run: a process forked by another test
    /// while the script is still open for writing would make running it fail (ETXTBSY).
    static SPAWNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// A stand-in for the `alpes` binary: a shell script printing `stdout` (and, when it
    /// is `"$ALPES_JWT_SECRET"`, the secret it was given) and exiting with `code`.
    fn fake_binary(dir: &Path, stdout: &str, code: i32) -> std::path::PathBuf {
        let path = dir.join("alpes");
        let mut file = std::fs::File::create(&path).unwrap();
        writeln!(
            file,
            "#!/bin/sh\nprintf '%s\\n' {stdout}\necho 'some diagnostic' >&2\nexit {code}"
        )
        .unwrap();
        drop(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn temp_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("bench-credentials-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn each_secret_is_43_random_base64url_characters() {
        let (first, second) = (random_secret().unwrap(), random_secret().unwrap());
        for secret in [&first, &second] {
            assert_eq!(secret.expose_secret().len(), 43);
            assert!(secret
                .expose_secret()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
        assert_ne!(first.expose_secret(), second.expose_secret());
    }

    #[test]
    fn a_token_minted_in_process_verifies_with_the_token_settings_as_an_admin() {
        let credentials = Credentials::in_process().unwrap();
        let principal = auth::Verifier::new(&credentials.token_settings())
            .unwrap()
            .verify(credentials.token.expose_secret())
            .unwrap();
        assert_eq!(principal.role, Role::Admin);
        assert_eq!(principal.sub, SUBJECT);
    }

    #[test]
    fn the_token_is_what_the_binary_prints_given_the_secret() {
        let _spawning = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
        let dir = temp_dir();
        // The fake issuer prints the secret it got from its environment as the token.
        let binary = fake_binary(&dir, "\"$ALPES_JWT_SECRET\"", 0);
        let credentials = Credentials::issued_by(&binary).unwrap();
        assert_eq!(
            credentials.token.expose_secret(),
            credentials.secret.expose_secret()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failing_issuer_is_an_error_with_its_diagnostic() {
        let _spawning = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
        let dir = temp_dir();
        let binary = fake_binary(&dir, "token", 2);
        let error = Credentials::issued_by(&binary).err().unwrap().to_string();
        assert!(error.contains("token issue failed"), "{error}");
        assert!(error.contains("some diagnostic"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_issuer_printing_no_token_is_an_error() {
        let _spawning = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
        let dir = temp_dir();
        for stdout in ["''", "'two words'"] {
            let binary = fake_binary(&dir, stdout, 0);
            let error = Credentials::issued_by(&binary).err().unwrap().to_string();
            assert!(error.contains("printed no token"), "{stdout}: {error}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_binary_is_an_error() {
        let _spawning = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
        let error = Credentials::issued_by(Path::new("/nonexistent/alpes"))
            .err()
            .unwrap();
        assert!(format!("{error:#}").contains("token issue"), "{error:#}");
    }

    #[test]
    fn the_secret_replaces_the_inherited_authentication_variables() {
        let credentials = Credentials::in_process().unwrap();
        let mut command = Command::new("alpes");
        command.env("ALPES_JWT_PUBLIC_KEY", "/some/key.pem");
        credentials.configure(&mut command);
        let envs: Vec<_> = command.get_envs().collect();
        for variable in INHERITED_AUTH_VARIABLES
            .iter()
            .filter(|v| **v != "ALPES_JWT_SECRET")
        {
            assert!(
                envs.contains(&(std::ffi::OsStr::new(variable), None)),
                "{variable} is not removed"
            );
        }
        assert!(envs.contains(&(
            std::ffi::OsStr::new("ALPES_JWT_SECRET"),
            Some(std::ffi::OsStr::new(credentials.secret.expose_secret()))
        )));
    }

    #[tokio::test]
    async fn every_request_of_the_client_carries_the_token() {
        use std::io::{Read, Write};
        let credentials = Credentials::in_process().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/campaigns", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let read = socket.read(&mut buffer).unwrap();
                assert!(read > 0, "the connection closed mid-request");
                request.extend_from_slice(&buffer[..read]);
            }
            socket
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .unwrap();
            String::from_utf8(request).unwrap()
        });
        let client = credentials.client().unwrap();
        client.get(&url).send().await.unwrap();
        let request = server.join().unwrap().to_lowercase();
        let expected =
            format!("authorization: bearer {}\r\n", credentials.token.expose_secret()).to_lowercase();
        assert!(request.contains(&expected), "{request}");
        assert!(!format!("{client:?}").contains(credentials.token.expose_secret()));
    }
}
