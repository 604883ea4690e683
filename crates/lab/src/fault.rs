//! Faults a lab host can be given, for people and for the fault suite: killing one of its
//! processes, cutting its network (a partition: the host keeps running on its side),
//! slowing its link, filling its brick filesystem, and failing a disk for good. Each but the
//! last has its undoing.
//!
//! A host's processes are found among the host's own (its namespaces), never by name on
//! the machine; its link is the bridge side of its veth, named as its namespace.

use std::fmt;
use std::time::Duration;

use brickyard_exec::{Cmd, output, run};
use brickyard_sys::procs;

use crate::LabError;
use crate::lab::Lab;
use crate::state::HostState;

/// The file that fills a brick filesystem, at the root of the brick mount.
pub const FILL_FILE: &str = ".lab-fill";
/// A fill is done once less than this is free (XFS keeps a few blocks no file gets).
const FILL_SLACK: u64 = 256 << 10;
/// At most this many rounds of writing until "No space left on device".
const FILL_ROUNDS: usize = 5;
const TC_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `volume status` may take when a fault asks which process serves a brick.
const GLUSTER_TIMEOUT: Duration = Duration::from_secs(10);

/// A process of a host that can be killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Victim {
    /// Its glusterd.
    Glusterd,
    /// Its node agent (`brickyard node run`).
    Agent,
    /// Its brick process (glusterfsd) of a volume.
    Brick(String),
}

impl fmt::Display for Victim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Glusterd => f.write_str("glusterd"),
            Self::Agent => f.write_str("agent"),
            Self::Brick(v) => write!(f, "brick of volume {v}"),
        }
    }
}

/// Whether a process's command line is `victim`'s.
pub fn is_victim(victim: &Victim, comm: &str, args: &[String]) -> bool {
    match victim {
        Victim::Glusterd => comm == "glusterd",
        Victim::Agent => args.windows(2).any(|w| w[0] == "node" && w[1] == "run"),
        Victim::Brick(volume) => {
            let prefix = format!("{volume}.");
            comm == "glusterfsd"
                && args
                    .windows(2)
                    .any(|w| w[0] == "--volfile-id" && w[1].starts_with(&prefix))
        }
    }
}

/// The processes among `pids` that are `victim`.
fn victims_among(pids: &[i32], victim: &Victim) -> Vec<i32> {
    pids.iter()
        .copied()
        .filter(|&pid| {
            let comm = procs::comm(pid).unwrap_or_default();
            let args = procs::cmdline(pid).unwrap_or_default();
            is_victim(victim, &comm, &args)
        })
        .collect()
}

/// The `tc` command lines that limit a link to `rate` (e.g. `1mbit`), or lift the limit.
pub fn tc_argv(dev: &str, rate: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = ["tc", "qdisc"].map(str::to_owned).to_vec();
    match rate {
        Some(rate) => v.extend(
            [
                "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", "64kb", "latency",
                "500ms",
            ]
            .map(str::to_owned),
        ),
        None => v.extend(["del", "dev", dev, "root"].map(str::to_owned)),
    }
    v
}

impl Lab {
    /// The etcd members `which` names: a 1-based number, or `all`.
    fn etcd_members(&self, which: &str) -> Result<Vec<usize>, LabError> {
        let n = self.state.etcd_members;
        let bad = |problem: String| LabError::BadOption {
            option: "MEMBER",
            value: which.to_owned(),
            problem,
            fix: "give a member's number (1-based) or all".into(),
        };
        if self.state.store != crate::StoreKind::Etcd {
            return Err(bad(
                "this lab's store is not etcd (lab up --store etcd)".into()
            ));
        }
        if which == "all" {
            return Ok((1..=n).collect());
        }
        match which.parse::<usize>() {
            Ok(i) if (1..=n).contains(&i) => Ok(vec![i]),
            _ => Err(bad(format!("the lab's etcd has members 1 to {n}"))),
        }
    }

    /// Stops etcd members (`which`: a number or `all`); returns those that were running.
    pub fn etcd_stop(&self, which: &str) -> Result<Vec<usize>, LabError> {
        let members = self.etcd_members(which)?;
        Ok(members
            .into_iter()
            .filter(|&i| crate::etcd::stop_member(&self.state.dir, i))
            .collect())
    }

    /// Starts stopped etcd members again (`which`: a number or `all`).
    pub fn etcd_start(&self, which: &str) -> Result<Vec<usize>, LabError> {
        let members = self.etcd_members(which)?;
        for &i in &members {
            crate::etcd::start_member(&self.state.dir, i)?;
        }
        Ok(members)
    }

    /// The processes of `host` (found among its own, never by name on the machine) that
    /// are `victim`.
    pub fn victim_pids(&self, host: &HostState, victim: &Victim) -> Result<Vec<i32>, LabError> {
        Ok(victims_among(&self.host_pids(host)?, victim))
    }

    /// Kills (SIGKILL) `victim` in `host`; returns its pid. An error when it is not running.
    pub async fn kill(&self, host: &HostState, victim: &Victim) -> Result<Vec<i32>, LabError> {
        let own = self.host_pids(host)?;
        let mut pids = victims_among(&own, victim);
        if let Victim::Brick(volume) = victim {
            // With brick multiplexing, the process serving this host's brick of the volume
            // may have been started for another volume: gluster knows which it is. Only a
            // glusterfsd of this host is taken from its answer.
            if let Some(pid) = self.brick_pid(host, volume).await
                && own.contains(&pid)
                && procs::comm(pid).as_deref() == Some("glusterfsd")
            {
                pids = vec![pid];
            }
        }
        if pids.is_empty() {
            return Err(LabError::BadOption {
                option: "VICTIM",
                value: victim.to_string(),
                problem: format!("is not running in host {}", host.host_name),
                fix: "`brickyard lab status` shows the hosts' processes".into(),
            });
        }
        let left = procs::kill_now(&pids);
        if !left.is_empty() {
            return Err(LabError::Timeout {
                what: format!("{victim} of host {} dying", host.host_name),
                secs: 5,
                detail: format!("still alive: {left:?}"),
            });
        }
        Ok(pids)
    }

    /// The pid gluster reports for `host`'s brick of `volume`, when it can say.
    async fn brick_pid(&self, host: &HostState, volume: &str) -> Option<i32> {
        let gluster = brickyard_gluster::Gluster::new()
            .prefix(self.enter_argv(host, &[]).await.ok()?)
            .timeout(GLUSTER_TIMEOUT);
        let status = gluster.volume_status(Some(volume)).await.ok()?;
        let ip = host.ip.to_string();
        status
            .iter()
            .flat_map(|v| &v.bricks)
            .find(|b| b.host == ip && b.online)
            .and_then(|b| b.pid)
            .and_then(|p| i32::try_from(p).ok())
    }

    /// Cuts `host` off the lab's network (`cut`), or joins it again. The host keeps running:
    /// its processes see every peer, and the machine, stop answering.
    pub async fn partition(&self, host: &HostState, cut: bool) -> Result<(), LabError> {
        let state = if cut { "down" } else { "up" };
        run(&Cmd::new(["ip", "link", "set", &host.netns, state]).timeout(TC_TIMEOUT))
            .await
            .map(drop)
            .map_err(|e| LabError::cmd(format!("set host {}'s link {state}", host.host_name), e))
    }

    /// Limits `host`'s link to `rate` both ways (`tc … tbf`), or lifts the limit (`None`).
    pub async fn throttle(&self, host: &HostState, rate: Option<&str>) -> Result<(), LabError> {
        let outside = tc_argv(&host.netns, rate);
        let inside = self.cmd_in(host, &tc_argv("eth0", rate)).await?;
        for cmd in [
            Cmd::new(outside).timeout(TC_TIMEOUT),
            inside.timeout(TC_TIMEOUT),
        ] {
            let out = output(&cmd)
                .await
                .map_err(|e| LabError::cmd(format!("tc on host {}", host.host_name), e))?;
            // Lifting a limit that is not there is fine.
            let absent = rate.is_none() && out.stderr_str().contains("No such file");
            if !out.success() && !absent {
                return Err(LabError::cmd(
                    format!("tc on host {}", host.host_name),
                    brickyard_exec::ExecError::Failed {
                        cmd: cmd.to_string(),
                        code: out.code,
                        stdout: out.stdout_str(),
                        stderr: out.stderr_str(),
                    },
                ));
            }
        }
        Ok(())
    }

    /// Makes the disk at `host`'s brick mount `mount` fail: `xfs_io -x -c shutdown` shuts its
    /// XFS filesystem down, as XFS itself does after an I/O error it cannot survive, and
    /// every access then fails with EIO. (Device-mapper's error target would fail the block
    /// device itself; it is not on every machine, and XFS behaves the same once it sees
    /// the errors.)
    pub async fn fail_disk(&self, host: &HostState, mount: &str) -> Result<(), LabError> {
        let cmd = self
            .cmd_in(
                host,
                &["xfs_io", "-x", "-c", "shutdown", mount].map(str::to_owned),
            )
            .await?;
        run(&cmd).await.map_err(|e| {
            LabError::cmd(format!("shut down {mount} on host {}", host.host_name), e)
        })?;
        Ok(())
    }

    /// Fills `host`'s brick filesystem `mount` (e.g. `/gluster/brick1`) to the last byte,
    /// or removes what filled it (`fill` false). Returns the bytes it took and the bytes
    /// still free after it.
    ///
    /// Writing until "No space left on device" once is not enough: XFS gives back the
    /// blocks it had set aside past the end of the files once they are closed (measured on
    /// the lab: 4 MB free again a moment after a fill, more than an agent's "full" mark),
    /// so the rest is written in rounds until a round leaves less than [`FILL_SLACK`].
    pub async fn fill(
        &self,
        host: &HostState,
        mount: &str,
        fill: bool,
    ) -> Result<(u64, u64), LabError> {
        let file = format!("{mount}/{FILL_FILE}");
        let rest = format!("{file}-rest");
        if !fill {
            let cmd = self
                .cmd_in(host, &["rm".to_owned(), "-f".into(), file, rest])
                .await?;
            run(&cmd)
                .await
                .map_err(|e| LabError::cmd(format!("unfill host {}", host.host_name), e))?;
            return Ok((0, 0));
        }
        let before = self.free_bytes(host, mount).await?;
        // Most of it at once, then the rest written until the file system says it is full
        // (dd's failure at ENOSPC is the point).
        let bulk = before.saturating_sub(8 << 20);
        let cmd = self
            .cmd_in(
                host,
                &["fallocate".to_owned(), "-l".into(), bulk.to_string(), file],
            )
            .await?;
        let _ = output(&cmd).await;
        let mut left = before;
        for _ in 0..FILL_ROUNDS {
            let dd = [
                "dd".to_owned(),
                "if=/dev/zero".into(),
                format!("of={rest}"),
                "bs=64k".into(),
                "oflag=append".into(),
                "conv=notrunc".into(),
            ];
            let cmd = self.cmd_in(host, &dd).await?;
            let _ = output(&cmd).await;
            left = self.free_bytes(host, mount).await?;
            if left < FILL_SLACK {
                break;
            }
        }
        Ok((before.saturating_sub(left), left))
    }

    /// The bytes free for new data on `host`'s filesystem at `mount`, as `df` says.
    async fn free_bytes(&self, host: &HostState, mount: &str) -> Result<u64, LabError> {
        let df = self
            .cmd_in(
                host,
                &["df", "-B1", "--output=avail", mount].map(str::to_owned),
            )
            .await?;
        let out = run(&df)
            .await
            .map_err(|e| LabError::cmd(format!("df on host {}", host.host_name), e))?;
        out.stdout_str()
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| {
                LabError::observe(
                    "free space of the brick",
                    format!("df said {:?}", out.stdout_str()),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn victims_are_told_apart_by_their_command_lines() {
        let brick = args(
            "/usr/sbin/glusterfsd -s 10.0.0.1 --volfile-id gv0.10.0.0.1.gluster-brick1-gv0 -p x",
        );
        assert!(is_victim(
            &Victim::Brick("gv0".into()),
            "glusterfsd",
            &brick
        ));
        assert!(!is_victim(
            &Victim::Brick("gv".into()),
            "glusterfsd",
            &brick
        ));
        assert!(!is_victim(&Victim::Glusterd, "glusterfsd", &brick));
        assert!(is_victim(
            &Victim::Glusterd,
            "glusterd",
            &args("/usr/sbin/glusterd -N")
        ));
        let agent = args("/usr/bin/brickyard --store file:///s node run --host h1@10.0.0.1");
        assert!(is_victim(&Victim::Agent, "brickyard", &agent));
        assert!(!is_victim(
            &Victim::Agent,
            "brickyard",
            &args("brickyard lab supervise")
        ));
    }

    #[test]
    fn tc_limits_and_lifts() {
        assert_eq!(
            tc_argv("byl-x-1", Some("1mbit")).join(" "),
            "tc qdisc replace dev byl-x-1 root tbf rate 1mbit burst 64kb latency 500ms"
        );
        assert_eq!(
            tc_argv("eth0", None).join(" "),
            "tc qdisc del dev eth0 root"
        );
    }
}
