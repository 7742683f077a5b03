//! The embedded default's signing secret: with no key configured and the embedded
//! database, the first start generates a random secret and keeps it beside the data
//! (readable by its owner only), so that tokens stay valid across restarts.

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::SecretString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The secret's file name, in the data directory.
pub const SECRET_FILE: &str = "jwt-secret";

/// The embedded secret, and whether this start created it.
pub struct EmbeddedSecret {
    pub secret: SecretString,
    pub path: PathBuf,
    /// True on the first start: it was just generated.
    pub created: bool,
}

/// Reads the secret kept in `data_dir`, or generates it (256 random bits, written
/// base64url with mode 0600, never overwritten).
pub fn load_or_create_secret(data_dir: &Path) -> io::Result<EmbeddedSecret> {
    let path = data_dir.join(SECRET_FILE);
    match read(&path) {
        Ok(secret) => return Ok(loaded(secret, path, false)),
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        Err(_) => {}
    }
    fs::create_dir_all(data_dir)?;
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| io::Error::other("the system's random number generator failed"))?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    // Written whole to a file of this process, then linked into place: the secret file
    // is never seen half-written, and a start that races another keeps the other's.
    let draft = data_dir.join(format!("{SECRET_FILE}.{}.tmp", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&draft)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    let linked = fs::hard_link(&draft, &path);
    let _ = fs::remove_file(&draft);
    match linked {
        Ok(()) => Ok(loaded(secret, path, true)),
        // Another process created it first: theirs is the secret.
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(loaded(read(&path)?, path, false)),
        Err(error) => Err(error),
    }
}

fn read(path: &Path) -> io::Result<String> {
    let text = fs::read_to_string(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777),
                "the JWT secret file can be read by others; chmod 600 it");
        }
    }
    Ok(text.trim().to_owned())
}

fn loaded(secret: String, path: PathBuf, created: bool) -> EmbeddedSecret {
    EmbeddedSecret {
        secret: SecretString::from(secret),
        path,
        created,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn the_first_call_creates_a_private_secret_and_later_ones_read_it() {
        let dir = std::env::temp_dir().join(format!("alpes-secret-{}", std::process::id()));
        let first = load_or_create_secret(&dir).unwrap();
        assert!(first.created);
        assert!(first.secret.expose_secret().len() >= crate::MIN_SECRET_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&first.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = load_or_create_secret(&dir).unwrap();
        assert!(!second.created);
        assert_eq!(second.secret.expose_secret(), first.secret.expose_secret());
        fs::remove_dir_all(&dir).unwrap();
    }
}
