//! The handle that runs the gluster CLI.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use brickyard_exec::Cmd;

use crate::error::{GlusterError, ReplyError};
use crate::parse::{
    HealBrick, Peer, ProbeOutcome, QuotaLimit, RebalanceStatus, VolumeInfo, VolumeOp, VolumeRef,
    VolumeStatus, parse_heal_info, parse_ok, parse_peer_probe, parse_peer_status, parse_pool_list,
    parse_quota_list, parse_rebalance_status, parse_remove_brick_status, parse_uuid_get,
    parse_volume_get, parse_volume_info, parse_volume_list, parse_volume_op, parse_volume_status,
};

/// Timeout of read commands: they answer in well under a second on a healthy pool, and
/// heal info waits ~3 s for an unreachable brick.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of write commands: glusterd's own CLI timeout is 120 s, and a probe of an
/// unreachable host takes ~3 s.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

/// How the CLI reaches glusterd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The default unix socket, `/var/run/glusterd.socket`: works on an IP-bound node for
    /// every command, reads and writes, as long as the CLI runs in glusterd's mount
    /// namespace (or sees its /run).
    LocalSocket,
    /// Another unix socket (`--glusterd-sock=PATH`), e.g. a container's socket seen from
    /// the host through `/proc/PID/root/run/glusterd.socket`. Reads and writes work.
    Socket(PathBuf),
    /// TCP to glusterd's bind address (`--remote-host=IP`): reads work (heal info
    /// included); glusterd 10.3 ignores writes arriving this way, so the handle refuses
    /// them.
    RemoteHost(IpAddr),
}

/// A handle on the gluster CLI: `gluster --mode=script --xml ...` run through
/// brickyard_exec with a timeout, answers parsed into typed values.
#[derive(Debug, Clone)]
pub struct Gluster {
    program: String,
    prefix: Vec<String>,
    target: Target,
    timeout: Option<Duration>,
}

impl Default for Gluster {
    fn default() -> Self {
        Self::new()
    }
}

/// A volume to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeCreate {
    /// Volume name (validated by the caller; passed as one argument, never to a shell).
    pub name: String,
    /// `replica N`.
    pub replica: Option<u32>,
    /// `arbiter N` (with replica).
    pub arbiter: Option<u32>,
    /// `disperse N`.
    pub disperse: Option<u32>,
    /// `redundancy N` (with disperse).
    pub redundancy: Option<u32>,
    /// Bricks as "HOST:PATH", in replica-set order.
    pub bricks: Vec<String>,
    /// Append `force` (a brick on the root partition, or a brick directory that exists).
    pub force: bool,
}

impl VolumeCreate {
    /// The CLI arguments after `gluster`, without the global options.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["volume".to_owned(), "create".to_owned(), self.name.clone()];
        let counts = [
            ("replica", self.replica),
            ("arbiter", self.arbiter),
            ("disperse", self.disperse),
            ("redundancy", self.redundancy),
        ];
        for (word, count) in counts {
            if let Some(n) = count {
                args.push(word.to_owned());
                args.push(n.to_string());
            }
        }
        args.extend(self.bricks.iter().cloned());
        if self.force {
            args.push("force".to_owned());
        }
        args
    }
}

impl Gluster {
    /// A handle using the local socket and the `gluster` on PATH.
    pub fn new() -> Self {
        Self {
            program: "gluster".to_owned(),
            prefix: Vec::new(),
            target: Target::LocalSocket,
            timeout: None,
        }
    }

    /// Reaches glusterd another way.
    pub fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// Overrides the timeout of every command.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs the CLI behind a prefix, e.g. `nsenter -t PID -m -n -u` to reach the glusterd
    /// of another mount and network namespace (a lab host).
    pub fn prefix<I, S>(mut self, prefix: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.prefix = prefix.into_iter().map(Into::into).collect();
        self
    }

    /// The command that runs `gluster --mode=script --xml <target option> ARGS`.
    pub fn command(&self, args: &[&str], write: bool) -> Cmd {
        let mut argv = self.prefix.clone();
        argv.push(self.program.clone());
        argv.push("--mode=script".to_owned());
        argv.push("--xml".to_owned());
        match &self.target {
            Target::LocalSocket => {}
            Target::Socket(path) => argv.push(format!("--glusterd-sock={}", path.display())),
            Target::RemoteHost(ip) => argv.push(format!("--remote-host={ip}")),
        }
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let default = if write { WRITE_TIMEOUT } else { READ_TIMEOUT };
        Cmd::new(argv).timeout(self.timeout.unwrap_or(default))
    }

    /// Runs a command and parses its answer with `parse`.
    ///
    /// The exit code is not trusted: with `--xml` the CLI exits 0 for most failures (the
    /// failure is in opRet) and non-zero for some (heal info of a missing volume exits
    /// 254 with a valid answer). So the XML is parsed first, and only output that is not
    /// XML at all counts as "no answer".
    pub async fn run<T>(
        &self,
        args: &[&str],
        write: bool,
        parse: impl FnOnce(&[u8]) -> Result<T, ReplyError>,
    ) -> Result<T, GlusterError> {
        let cmd = self.command(args, write);
        if write && matches!(self.target, Target::RemoteHost(_)) {
            return Err(GlusterError::ReadOnlyTarget {
                cmd: cmd.to_string(),
            });
        }
        let out = brickyard_exec::output(&cmd).await?;
        if !out.stdout.trim_ascii_start().starts_with(b"<") {
            return Err(GlusterError::NoAnswer {
                cmd: cmd.to_string(),
                code: out.code,
                stdout: out.stdout_str(),
                stderr: out.stderr_str(),
            });
        }
        parse(&out.stdout).map_err(|e| GlusterError::from_reply(cmd.to_string(), e))
    }

    /// `pool list`: all members, this node included.
    pub async fn pool_list(&self) -> Result<Vec<Peer>, GlusterError> {
        self.run(&["pool", "list"], false, parse_pool_list).await
    }

    /// `peer status`: the other members.
    pub async fn peer_status(&self) -> Result<Vec<Peer>, GlusterError> {
        self.run(&["peer", "status"], false, parse_peer_status)
            .await
    }

    /// `peer probe HOST`.
    pub async fn peer_probe(&self, host: &str) -> Result<ProbeOutcome, GlusterError> {
        self.run(&["peer", "probe", host], true, parse_peer_probe)
            .await
    }

    /// `peer detach HOST [force]`. glusterd refuses to detach a peer holding bricks, even
    /// with force.
    pub async fn peer_detach(&self, host: &str, force: bool) -> Result<(), GlusterError> {
        let mut args = vec!["peer", "detach", host];
        if force {
            args.push("force");
        }
        self.run(&args, true, parse_ok).await
    }

    /// The answering glusterd's own UUID (`system:: uuid get`).
    pub async fn own_uuid(&self) -> Result<String, GlusterError> {
        self.run(&["system::", "uuid", "get"], false, parse_uuid_get)
            .await
    }

    /// `volume get all OPTION`: the value of one cluster-wide option, as gluster prints it.
    pub async fn global_option(&self, option: &str) -> Result<String, GlusterError> {
        let cmd = format!("volume get all {option}");
        let opts = self
            .run(&["volume", "get", "all", option], false, parse_volume_get)
            .await?;
        opts.into_iter()
            .find(|(k, _)| k == option)
            .map(|(_, v)| v)
            .ok_or_else(|| GlusterError::Parse {
                cmd,
                source: crate::error::ParseError::Missing(format!("volGetopts/Opt[{option}]")),
            })
    }

    /// `volume set all OPTION VALUE`: sets a cluster-wide option.
    pub async fn set_global_option(&self, option: &str, value: &str) -> Result<(), GlusterError> {
        self.run(&["volume", "set", "all", option, value], true, parse_ok)
            .await
    }

    /// `volume list`.
    pub async fn volume_list(&self) -> Result<Vec<String>, GlusterError> {
        self.run(&["volume", "list"], false, parse_volume_list)
            .await
    }

    /// `volume info [VOL]`: all volumes, or one.
    pub async fn volume_info(&self, volume: Option<&str>) -> Result<Vec<VolumeInfo>, GlusterError> {
        let mut args = vec!["volume", "info"];
        args.extend(volume);
        self.run(&args, false, parse_volume_info).await
    }

    /// `volume info VOL`: `None` when gluster has no volume of that name (opErrno 30806).
    pub async fn volume_info_of(&self, volume: &str) -> Result<Option<VolumeInfo>, GlusterError> {
        match self.volume_info(Some(volume)).await {
            Ok(mut found) => Ok(found.pop().filter(|v| v.name == volume)),
            Err(e)
                if e.op_failure().is_some_and(|f| f.op_errno == NO_SUCH_VOLUME)
                    || op_says(&e, "does not exist") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `volume status [VOL]`: bricks and daemons of started volumes.
    pub async fn volume_status(
        &self,
        volume: Option<&str>,
    ) -> Result<Vec<VolumeStatus>, GlusterError> {
        let mut args = vec!["volume", "status"];
        args.extend(volume);
        self.run(&args, false, parse_volume_status).await
    }

    /// `volume heal VOL`: has the self-heal daemons crawl their index now instead of at
    /// their next periodic crawl (`cluster.heal-timeout`, 600 s), which is the only crawl
    /// that comes when no brick went down and up (a brick that was full, for instance).
    ///
    /// gluster 10.3 answers this command in plain text even with `--xml` (measured), so
    /// the exit code and the text are what is read.
    pub async fn heal_start(&self, volume: &str) -> Result<(), GlusterError> {
        self.heal(&["volume", "heal", volume]).await
    }

    /// `volume heal VOL full`: has the self-heal daemons crawl every file of their bricks,
    /// not only their index. A brick filesystem that was full to the last block could not
    /// link a file into the index when a write reached only some bricks of its set
    /// (measured: the pending marks were set, the index entry was not), so only a full
    /// crawl finds such a file. Answered in plain text, as [`Self::heal_start`].
    pub async fn heal_full(&self, volume: &str) -> Result<(), GlusterError> {
        self.heal(&["volume", "heal", volume, "full"]).await
    }

    async fn heal(&self, args: &[&str]) -> Result<(), GlusterError> {
        let cmd = self.command(args, true);
        if matches!(self.target, Target::RemoteHost(_)) {
            return Err(GlusterError::ReadOnlyTarget {
                cmd: cmd.to_string(),
            });
        }
        let out = brickyard_exec::output(&cmd).await?;
        if out.success() && out.stdout_str().contains("has been successful") {
            Ok(())
        } else {
            Err(GlusterError::NoAnswer {
                cmd: cmd.to_string(),
                code: out.code,
                stdout: out.stdout_str(),
                stderr: out.stderr_str(),
            })
        }
    }

    /// `volume reset-brick VOL BRICK start`: takes one brick offline (its process, or its
    /// place in a multiplexed one) and keeps it out of the volume until it is replaced or
    /// reset; `volume start VOL force` starts it again.
    pub async fn reset_brick_start(&self, volume: &str, brick: &str) -> Result<(), GlusterError> {
        self.run(
            &["volume", "reset-brick", volume, brick, "start"],
            true,
            parse_ok,
        )
        .await
    }

    /// `volume heal VOL info`: entries pending heal per brick.
    pub async fn heal_info(&self, volume: &str) -> Result<Vec<HealBrick>, GlusterError> {
        self.run(&["volume", "heal", volume, "info"], false, parse_heal_info)
            .await
    }

    /// `volume rebalance VOL status`: the rebalance's progress summed over the nodes.
    pub async fn rebalance_status(&self, volume: &str) -> Result<RebalanceStatus, GlusterError> {
        self.run(
            &["volume", "rebalance", volume, "status"],
            false,
            parse_rebalance_status,
        )
        .await
    }

    /// `volume remove-brick VOL BRICK status`: the files moving off a brick, summed over
    /// the nodes.
    pub async fn remove_brick_status(
        &self,
        volume: &str,
        brick: &str,
    ) -> Result<RebalanceStatus, GlusterError> {
        self.run(
            &["volume", "remove-brick", volume, brick, "status"],
            false,
            parse_remove_brick_status,
        )
        .await
    }

    /// `volume create ...`.
    pub async fn volume_create(&self, spec: &VolumeCreate) -> Result<VolumeRef, GlusterError> {
        let args = spec.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args, true, |x| parse_volume_op(x, VolumeOp::Create))
            .await
    }

    /// `volume start VOL [force]`; force also starts bricks that are down on a started
    /// volume.
    pub async fn volume_start(&self, volume: &str, force: bool) -> Result<VolumeRef, GlusterError> {
        let mut args = vec!["volume", "start", volume];
        if force {
            args.push("force");
        }
        self.run(&args, true, |x| parse_volume_op(x, VolumeOp::Start))
            .await
    }

    /// `volume stop VOL [force]` (script mode answers the confirmation itself).
    pub async fn volume_stop(&self, volume: &str, force: bool) -> Result<VolumeRef, GlusterError> {
        let mut args = vec!["volume", "stop", volume];
        if force {
            args.push("force");
        }
        self.run(&args, true, |x| parse_volume_op(x, VolumeOp::Stop))
            .await
    }

    /// `volume quota VOL enable`; `Ok(false)` when quota was already on.
    pub async fn quota_enable(&self, volume: &str) -> Result<bool, GlusterError> {
        let args = ["volume", "quota", volume, "enable"];
        match self.run(&args, true, parse_ok).await {
            Ok(()) => Ok(true),
            Err(e) if op_says(&e, "already enabled") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `volume quota VOL limit-usage PATH BYTES`: sets or changes the limit of a directory
    /// (which must exist) in bytes.
    pub async fn quota_limit(
        &self,
        volume: &str,
        path: &str,
        bytes: u64,
    ) -> Result<(), GlusterError> {
        let bytes = bytes.to_string();
        let args = [
            "volume",
            "quota",
            volume,
            "limit-usage",
            path,
            bytes.as_str(),
        ];
        self.run(&args, true, parse_ok).await
    }

    /// `volume quota VOL remove PATH`; `Ok(false)` when the directory had no limit.
    pub async fn quota_remove(&self, volume: &str, path: &str) -> Result<bool, GlusterError> {
        let args = ["volume", "quota", volume, "remove", path];
        match self.run(&args, true, parse_ok).await {
            Ok(()) => Ok(true),
            Err(e) if op_says(&e, "No data available") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `volume quota VOL list [PATH]`: the limits set (of `path` only, when given); empty
    /// when the volume has none.
    pub async fn quota_list(
        &self,
        volume: &str,
        path: Option<&str>,
    ) -> Result<Vec<QuotaLimit>, GlusterError> {
        let mut args = vec!["volume", "quota", volume, "list"];
        args.extend(path);
        match self.run(&args, false, parse_quota_list).await {
            Err(e) if op_says(&e, "No quota configured") => Ok(Vec::new()),
            other => other,
        }
    }

    /// `volume delete VOL` (the volume must be stopped; brick directories stay on disk).
    pub async fn volume_delete(&self, volume: &str) -> Result<VolumeRef, GlusterError> {
        self.run(&["volume", "delete", volume], true, |x| {
            parse_volume_op(x, VolumeOp::Delete)
        })
        .await
    }
}

/// Whether `e` is gluster's own failure with a message containing `text`.
/// gluster's opErrno for "Volume VOL does not exist".
const NO_SUCH_VOLUME: i32 = 30806;

fn op_says(e: &GlusterError, text: &str) -> bool {
    e.op_failure().is_some_and(|f| f.op_errstr.contains(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_command_line() {
        let g = Gluster::new();
        let cmd = g.command(&["pool", "list"], false);
        assert_eq!(cmd.to_string(), "gluster --mode=script --xml pool list");
        assert_eq!(cmd.timeout, READ_TIMEOUT);
        let g = Gluster::new()
            .prefix(["nsenter", "-t", "42", "-m", "-n"])
            .target(Target::Socket("/proc/42/root/run/glusterd.socket".into()))
            .timeout(Duration::from_secs(5));
        let cmd = g.command(&["peer", "probe", "10.0.0.2"], true);
        assert_eq!(
            cmd.to_string(),
            "nsenter -t 42 -m -n gluster --mode=script --xml --glusterd-sock=/proc/42/root/run/glusterd.socket peer probe 10.0.0.2"
        );
        assert_eq!(cmd.timeout, Duration::from_secs(5));
        let g = Gluster::new().target(Target::RemoteHost("10.0.0.1".parse().expect("ip")));
        assert!(
            g.command(&["volume", "list"], false)
                .argv
                .contains(&"--remote-host=10.0.0.1".to_owned())
        );
    }

    #[test]
    fn volume_create_arguments() {
        let spec = VolumeCreate {
            name: "v1".into(),
            replica: Some(3),
            arbiter: Some(1),
            bricks: vec!["a:/b/v1".into(), "b:/b/v1".into(), "c:/b/v1".into()],
            force: true,
            ..VolumeCreate::default()
        };
        assert_eq!(
            spec.args().join(" "),
            "volume create v1 replica 3 arbiter 1 a:/b/v1 b:/b/v1 c:/b/v1 force"
        );
        let spec = VolumeCreate {
            name: "v2".into(),
            disperse: Some(3),
            redundancy: Some(1),
            bricks: vec!["a:/b".into()],
            ..VolumeCreate::default()
        };
        assert_eq!(
            spec.args().join(" "),
            "volume create v2 disperse 3 redundancy 1 a:/b"
        );
    }

    #[tokio::test]
    async fn refuses_writes_over_remote_host_without_running() {
        // The program does not exist: had the handle tried to run it, the error would be
        // Exec, not ReadOnlyTarget.
        let mut g = Gluster::new().target(Target::RemoteHost("10.0.0.1".parse().expect("ip")));
        g.program = "brickyard-no-such-gluster".into();
        let err = g.volume_start("v", false).await.expect_err("refused");
        assert!(matches!(err, GlusterError::ReadOnlyTarget { .. }), "{err}");
    }

    #[tokio::test]
    async fn output_that_is_not_xml_is_no_answer() {
        // `echo` stands in for a CLI that cannot reach glusterd and says so in plain text.
        let mut g = Gluster::new();
        g.program = "echo".into();
        let err = g.pool_list().await.expect_err("no XML");
        assert!(matches!(err, GlusterError::NoAnswer { .. }), "{err}");
        assert!(err.to_string().contains("reachable"), "{err}");
    }
}
