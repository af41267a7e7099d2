//! `--user` of `exec-env` and `exec-file`, as sops has it: after the file is decrypted,
//! seal looks the user up in the user database, hands the private directory and file to
//! them, and becomes them (supplementary groups, group, user) before the command starts,
//! so the command runs with that user's rights and `HOME`, `USER` and `LOGNAME`.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::{Gid, Uid, User};

use crate::error::{CliError, exit};

/// The user a command runs as.
#[derive(Debug)]
pub struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
    home: PathBuf,
    /// Only when seal runs as another user (it must then be root).
    switch: Option<Vec<Gid>>,
}

impl RunAs {
    /// Look `name` up. Another user than seal's own needs root, as with sops.
    pub fn lookup(name: &str) -> Result<RunAs, CliError> {
        let fail = |msg: String| CliError::new(exit::GENERIC, msg);
        let user = User::from_name(name)
            .map_err(|e| fail(format!("--user {name}: cannot read the user database: {e}")))?
            .ok_or_else(|| {
                fail(format!(
                    "--user: there is no user named {name:?} on this machine"
                ))
            })?;
        let me = nix::unistd::geteuid();
        let switch = if user.uid == me {
            None
        } else if me.is_root() {
            let cname =
                CString::new(name).map_err(|_| fail("--user: the name holds a NUL byte".into()))?;
            let groups = nix::unistd::getgrouplist(&cname, user.gid)
                .map_err(|e| fail(format!("--user {name}: cannot read the user's groups: {e}")))?;
            Some(groups)
        } else {
            return Err(fail(format!(
                "--user {name}: running a command as another user needs root (seal runs as uid {me})"
            ))
            .hint("run seal with sudo, or leave out --user"));
        };
        Ok(RunAs {
            name: user.name,
            uid: user.uid,
            gid: user.gid,
            home: user.dir,
            switch,
        })
    }

    /// Whether seal becomes another user (its temporary files must then be where that user
    /// can reach them: not below root's `XDG_RUNTIME_DIR`).
    pub fn switches(&self) -> bool {
        self.switch.is_some()
    }

    /// Give `path` (the private directory, the decrypted file) to the user.
    pub fn give(&self, path: &Path) -> Result<(), CliError> {
        if self.switch.is_none() {
            return Ok(());
        }
        std::os::unix::fs::chown(path, Some(self.uid.as_raw()), Some(self.gid.as_raw())).map_err(
            |e| {
                CliError::new(
                    exit::COULD_NOT_WRITE_OUTPUT,
                    format!(
                        "--user {}: cannot hand {} to the user: {}",
                        self.name,
                        path.display(),
                        crate::error::io_reason(&e)
                    ),
                )
            },
        )
    }

    /// Become the user (groups, then group, then user: the order that cannot be undone
    /// last), for the rest of seal's run. Nothing is read or decrypted after this.
    pub fn become_user(&self) -> Result<(), CliError> {
        let Some(groups) = &self.switch else {
            return Ok(());
        };
        let fail = |what: &str, e: nix::Error| {
            CliError::new(
                exit::GENERIC,
                format!("--user {}: cannot set the {what}: {e}", self.name),
            )
        };
        nix::unistd::setgroups(groups).map_err(|e| fail("supplementary groups", e))?;
        nix::unistd::setgid(self.gid).map_err(|e| fail("group", e))?;
        nix::unistd::setuid(self.uid).map_err(|e| fail("user", e))?;
        Ok(())
    }

    /// The user's `HOME`, `USER` and `LOGNAME` in the command's environment (after
    /// `--pristine` cleared it, as sops adds them).
    pub fn set_env(&self, cmd: &mut Command) {
        cmd.env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_user_is_refused_by_name() {
        let e = RunAs::lookup("no-such-user-seal-test").unwrap_err();
        assert!(e.message.contains("no user named"), "{}", e.message);
    }

    #[test]
    fn the_own_user_needs_no_switch() {
        let me = User::from_uid(nix::unistd::geteuid()).unwrap().unwrap();
        let r = RunAs::lookup(&me.name).unwrap();
        assert!(!r.switches());
        let mut c = Command::new("true");
        r.set_env(&mut c);
        let env: Vec<_> = c
            .get_envs()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(env, ["HOME", "LOGNAME", "USER"]);
        assert!(r.become_user().is_ok());
    }
}
