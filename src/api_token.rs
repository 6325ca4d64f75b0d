//! The API token: the bearer secret of the REST routes that read or change
//! data (placing calls, transcripts, the calendar).
//!
//! `API_TOKEN` wins when it is set. Otherwise the token lives in
//! `DATA_DIR/api-token`: generated from the operating system's random source
//! at the first start (32 bytes, URL-safe base64), written with mode 0600 so
//! only the service's own user can read it, and reused on every later start.
//! The `frontdesk` commands read the same file, so a client on the same
//! machine needs no configuration.
//!
//! This module owns where the token comes from; checking a request against
//! it is `http::auth`'s job. Nothing here logs the token.

use std::{
    fs, io,
    io::Write,
    path::{Path, PathBuf},
};

use base64::Engine;

use crate::config::Secret;

/// The token file's name under `DATA_DIR`.
pub const FILE_NAME: &str = "api-token";

/// Where the token in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The `API_TOKEN` variable.
    Env,
    /// Generated at this start and written to this file.
    Generated(PathBuf),
    /// Read from this file, written at an earlier start.
    File(PathBuf),
}

/// The token the server accepts, and where it came from.
#[derive(Debug, Clone)]
pub struct ApiToken {
    secret: Secret,
    source: Source,
}

impl ApiToken {
    /// A token from a known value (`API_TOKEN`).
    pub fn from_env(secret: Secret) -> Self {
        Self {
            secret,
            source: Source::Env,
        }
    }

    /// The token itself.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Where it came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// What start-up prints (on standard output, never to the log): how to
    /// call the API at `base`. The token itself appears only when it was
    /// generated just now; otherwise the example reads it from where it is.
    pub fn announcement(&self, base: &str) -> String {
        match &self.source {
            Source::Generated(file) => format!(
                "A new API token was generated and saved to {file} (mode 0600); the REST API \
                 needs it. It is shown only this once:\n\n    {token}\n\nTry:\n    curl -H \
                 'Authorization: Bearer {token}' {base}/sessions\n",
                file = file.display(),
                token = self.secret.expose(),
            ),
            Source::File(file) => format!(
                "The REST API needs the API token kept in {file}. Try:\n    curl -H \
                 \"Authorization: Bearer $(cat {file})\" {base}/sessions\n",
                file = file.display(),
            ),
            Source::Env => format!(
                "The REST API needs the API token (API_TOKEN). Try:\n    curl -H \
                 \"Authorization: Bearer $API_TOKEN\" {base}/sessions\n"
            ),
        }
    }
}

/// Why the token could not be found or made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// `DATA_DIR` could not be created.
    #[error("DATA_DIR {}: cannot create the directory: {source}", .dir.display())]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The token file exists but cannot be read.
    #[error("cannot read the API token from {} (DATA_DIR): {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The token file could not be written.
    #[error("cannot write the API token to {} (DATA_DIR): {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The token file holds no usable token.
    #[error(
        "{} does not hold a usable API token: delete it to have a new one generated, or set API_TOKEN",
        .path.display()
    )]
    Unusable {
        /// The file.
        path: PathBuf,
    },
    /// The operating system gave no random bytes.
    #[error("no random numbers from the operating system: {0}")]
    Random(getrandom::Error),
}

/// The token file under `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The configured token, or the one in `DATA_DIR/api-token`, generating and
/// storing a new one when there is none yet.
pub fn load_or_create(
    configured: Option<&Secret>,
    data_dir: &Path,
) -> Result<ApiToken, TokenError> {
    if let Some(secret) = configured {
        return Ok(ApiToken::from_env(secret.clone()));
    }
    fs::create_dir_all(data_dir).map_err(|source| TokenError::DataDir {
        dir: data_dir.to_owned(),
        source,
    })?;
    let file = path(data_dir);
    if let Some(secret) = read(&file)? {
        return Ok(ApiToken {
            secret,
            source: Source::File(file),
        });
    }
    let secret = generate()?;
    match write_new(&file, secret.expose()) {
        Ok(()) => Ok(ApiToken {
            secret,
            source: Source::Generated(file),
        }),
        // Another process wrote it first: use theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match read(&file)? {
            Some(secret) => Ok(ApiToken {
                secret,
                source: Source::File(file),
            }),
            None => Err(TokenError::Unusable { path: file }),
        },
        Err(source) => Err(TokenError::Write { path: file, source }),
    }
}

/// The configured token or the stored one, without creating anything (for
/// clients such as `frontdesk call`). `Ok(None)`: there is none yet.
pub fn find(configured: Option<&Secret>, data_dir: &Path) -> Result<Option<Secret>, TokenError> {
    match configured {
        Some(secret) => Ok(Some(secret.clone())),
        None => read(&path(data_dir)),
    }
}

/// A fresh random token: 32 bytes from the OS, URL-safe base64 (43 characters).
pub fn generate() -> Result<Secret, TokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(TokenError::Random)?;
    Ok(Secret::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    ))
}

/// Whether a value can be sent as a bearer token (visible ASCII, no spaces).
pub fn is_well_formed(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Reads a token file; `Ok(None)` when it does not exist.
fn read(file: &Path) -> Result<Option<Secret>, TokenError> {
    match fs::read_to_string(file) {
        Ok(text) => {
            let token = text.trim();
            if is_well_formed(token) {
                restrict(file);
                Ok(Some(Secret::new(token)))
            } else {
                Err(TokenError::Unusable {
                    path: file.to_owned(),
                })
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TokenError::Read {
            path: file.to_owned(),
            source,
        }),
    }
}

/// Creates the file (never overwriting one) readable by its owner only, and
/// syncs it, so a token shown at start-up is the one found after a crash.
fn write_new(file: &Path, token: &str) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(file)?;
    let written = f
        .write_all(token.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all());
    if written.is_err() {
        // A half-written file would be taken for the token next time.
        let _ = fs::remove_file(file);
    }
    written
}

/// Takes group and world access away from a token file that has it (copied
/// around, or made by hand).
fn restrict(file: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(file)
            && meta.permissions().mode() & 0o077 != 0
        {
            match fs::set_permissions(file, fs::Permissions::from_mode(0o600)) {
                Ok(()) => tracing::warn!(
                    file = %file.display(),
                    "the API token file was readable by other users; it is now mode 0600"
                ),
                Err(e) => tracing::warn!(
                    file = %file.display(),
                    error = %e,
                    "the API token file is readable by other users and could not be restricted"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_is_stored_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested");
        let first = load_or_create(None, &data).unwrap();
        assert_eq!(first.source(), &Source::Generated(path(&data)));
        assert_eq!(first.secret().expose().len(), 43);
        assert!(is_well_formed(first.secret().expose()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path(&data)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let shown = first.announcement("http://localhost:8000");
        assert!(shown.contains(first.secret().expose()), "{shown}");
        assert!(shown.contains("curl -H 'Authorization: Bearer "), "{shown}");
        let again = load_or_create(None, &data).unwrap();
        let shown = again.announcement("http://localhost:8000");
        assert!(!shown.contains(first.secret().expose()), "{shown}");
        assert!(shown.contains("$(cat "), "{shown}");
        assert_eq!(again.source(), &Source::File(path(&data)));
        assert_eq!(again.secret(), first.secret());
        assert_eq!(find(None, &data).unwrap().as_ref(), Some(first.secret()));
    }

    #[test]
    fn two_generated_tokens_differ() {
        assert_ne!(generate().unwrap(), generate().unwrap());
    }

    #[test]
    fn api_token_wins_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let token = load_or_create(Some(&Secret::new("from-env-123")), dir.path()).unwrap();
        assert_eq!(token.source(), &Source::Env);
        assert_eq!(token.secret().expose(), "from-env-123");
        assert!(!path(dir.path()).exists());
    }

    #[test]
    fn a_file_without_a_token_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(path(dir.path()), "  \n").unwrap();
        let err = load_or_create(None, dir.path()).unwrap_err();
        assert!(err.to_string().contains("api-token"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_others_can_read_is_restricted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path());
        fs::write(&file, "abcdefghijklmnop\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let token = load_or_create(None, dir.path()).unwrap();
        assert_eq!(token.secret().expose(), "abcdefghijklmnop");
        let mode = fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_data_dir_that_is_a_file_is_named_with_the_os_reason() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("plain-file");
        fs::write(&not_a_dir, "").unwrap();
        let err = load_or_create(None, &not_a_dir.join("data")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("DATA_DIR "), "{text}");
        assert!(text.contains("plain-file"), "{text}");
        assert!(text.to_lowercase().contains("not a directory"), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn an_unwritable_data_dir_is_named_with_the_os_reason() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o500)).unwrap();
        if fs::write(dir.path().join("probe"), "").is_ok() {
            return; // running as root: permissions are not enforced
        }
        let err = load_or_create(None, dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("DATA_DIR"), "{text}");
        assert!(text.to_lowercase().contains("permission denied"), "{text}");
    }
}
