//! Gathers [`Facts`] from the host: runs `ip`, `lsblk`, `wipefs`, `dmsetup`, `lvm`, `pvs`
//! and `lvs` through the command runner, reads the mount table, fstab and directories under
//! the root. Changes nothing.

use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;
use std::time::Duration;

use brickyard_exec::{Cmd, ExecError};
use brickyard_model::HostConfig;
use brickyard_sys::ip;
use thiserror::Error;

use crate::facts::{
    BlockDevice, DeviceFacts, DeviceState, DirState, Facts, LvmSupport, Mount, PackageDefaults,
};
use crate::layout::{self, under};
use crate::parse::{self, ParseError};
use crate::plan::PlanOptions;

const T_QUERY: Duration = Duration::from_secs(30);

/// Why the facts could not be gathered.
#[derive(Debug, Error)]
pub enum GatherError {
    /// A command failed.
    #[error("gather host facts")]
    Command(#[from] ExecError),
    /// A command's output could not be read.
    #[error("gather host facts")]
    Parse(#[from] ParseError),
    /// The mount table or `ip`'s output could not be read.
    #[error("gather host facts")]
    System(#[from] brickyard_sys::ParseError),
    /// A file or directory could not be read.
    #[error("read {path}")]
    Read {
        /// The path.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> GatherError + '_ {
    move |source| GatherError::Read {
        path: path.display().to_string(),
        source,
    }
}

async fn stdout(argv: &[&str]) -> Result<Vec<u8>, GatherError> {
    Ok(
        brickyard_exec::run(&Cmd::new(argv.iter().copied()).timeout(T_QUERY))
            .await?
            .stdout,
    )
}

/// Looks at the host as far as preparing `desired` under `opts` needs.
pub async fn gather(desired: &HostConfig, opts: &PlanOptions) -> Result<Facts, GatherError> {
    let interfaces = ip::parse_addr(&stdout(&["ip", "-j", "addr"]).await?)?;
    let mut default_route_interfaces = Vec::new();
    for family in ["-4", "-6"] {
        let routes = ip::parse_routes(&stdout(&["ip", "-j", family, "route"]).await?)?;
        for dev in ip::default_route_interfaces(&routes) {
            if !default_route_interfaces.contains(&dev) {
                default_route_interfaces.push(dev);
            }
        }
    }
    let lvm = lvm_support().await;
    let mut devices = Vec::new();
    for (device, _) in desired.bricks() {
        let state = device_state(&device).await?;
        devices.push(DeviceFacts {
            path: device,
            state,
        });
    }
    let mounts = brickyard_sys::mounts::read()?
        .into_iter()
        .map(|m| Mount {
            source: m.source,
            target: m.target.display().to_string(),
            fstype: m.fstype,
        })
        .collect();
    let fstab_path = under(&opts.root, layout::FSTAB);
    let fstab = match std::fs::read(&fstab_path) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(read_err(&fstab_path)(e)),
    };
    let mut dir_paths = vec![
        layout::CONFIG_DIR.to_owned(),
        layout::STATE_DIR.to_owned(),
        layout::LOG_DIR.to_owned(),
    ];
    dir_paths.extend(desired.bricks().into_iter().map(|(_, mp)| mp));
    let mut dirs = Vec::new();
    for d in dir_paths {
        let path = under(&opts.root, &d);
        let state = dir_state(&path)?;
        dirs.push((path.display().to_string(), state));
    }
    let package_defaults = package_defaults(Path::new(layout::PACKAGE_DEFAULTS_DIR))?;
    let mut new_fs_uuids = Vec::new();
    for _ in desired.bricks() {
        new_fs_uuids.push(fresh_uuid()?);
    }
    Ok(Facts {
        interfaces,
        default_route_interfaces,
        devices,
        lvm,
        mounts,
        fstab,
        dirs,
        package_defaults,
        // selinuxfs is mounted exactly when SELinux is enabled.
        selinux_enabled: Path::new("/sys/fs/selinux/enforce").exists(),
        new_fs_uuids,
    })
}

/// Whether LVM tools run and the kernel's device-mapper answers.
pub async fn lvm_support() -> LvmSupport {
    let ok = |argv: &'static [&'static str]| async move {
        brickyard_exec::run(&Cmd::new(argv.iter().copied()).timeout(T_QUERY))
            .await
            .is_ok()
    };
    if !ok(&["lvm", "version"]).await {
        return LvmSupport::Unavailable {
            reason: "LVM tools not available (lvm version failed)".into(),
        };
    }
    if !ok(&["dmsetup", "version"]).await {
        return LvmSupport::Unavailable {
            reason: "device-mapper not available (dmsetup version failed)".into(),
        };
    }
    LvmSupport::Usable
}

async fn device_state(device: &str) -> Result<DeviceState, GatherError> {
    let path = Path::new(device);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DeviceState::Missing),
        Err(e) => return Err(read_err(path)(e)),
    };
    if !meta.file_type().is_block_device() {
        return Ok(DeviceState::NotBlockDevice);
    }
    let canonical = std::fs::canonicalize(path)
        .map_err(read_err(path))?
        .display()
        .to_string();
    let lsblk = parse::lsblk(
        &stdout(&[
            "lsblk",
            "-J",
            "-b",
            "-o",
            "NAME,PATH,TYPE,SIZE,MOUNTPOINT",
            &canonical,
        ])
        .await?,
    )?;
    let signatures = parse::wipefs(&stdout(&["wipefs", "-n", "-J", &canonical]).await?)?;
    let users = device_users(&lsblk)?;
    let mut bd = BlockDevice {
        canonical,
        size: lsblk.size,
        signatures,
        pv: None,
        lvs: Vec::new(),
        users,
    };
    if bd.signatures.iter().any(|s| s.kind == "LVM2_member") {
        let canonical = bd.canonical.clone();
        lvm_facts(&canonical, &mut bd).await?;
    }
    Ok(DeviceState::Present(bd))
}

/// What uses a device or its partitions: mounts and swap of its partitions, and holders
/// (device-mapper, RAID) of any of them, from lsblk, `/sys/class/block/NAME/holders` and
/// `/proc/swaps`. A mount of the device itself is left to the plan, which knows whether it
/// is the brick's own.
fn device_users(lsblk: &parse::Lsblk) -> Result<Vec<String>, GatherError> {
    let swaps_path = Path::new("/proc/swaps");
    let swaps = match std::fs::read_to_string(swaps_path) {
        Ok(text) => parse::swaps(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(read_err(swaps_path)(e)),
    };
    let mut users = Vec::new();
    for (i, d) in lsblk.devices.iter().enumerate() {
        match &d.mountpoint {
            Some(m) if m == "[SWAP]" => users.push(format!("{} is in use as swap", d.path)),
            Some(m) if i > 0 => users.push(format!("{} is mounted on {m}", d.path)),
            _ => {}
        }
        if swaps.contains(&d.path) && d.mountpoint.as_deref() != Some("[SWAP]") {
            users.push(format!("{} is in use as swap", d.path));
        }
        let holders = Path::new("/sys/class/block").join(&d.name).join("holders");
        if let Ok(entries) = std::fs::read_dir(&holders) {
            for h in entries.flatten() {
                users.push(format!(
                    "{} is held by {} (device-mapper or RAID)",
                    d.path,
                    h.file_name().to_string_lossy()
                ));
            }
        }
    }
    Ok(users)
}

/// The volume group and logical volumes of a PV. LVM's metadata reads work without
/// device-mapper; only LVs that are active can have their content read.
async fn lvm_facts(device: &str, bd: &mut BlockDevice) -> Result<(), GatherError> {
    let pvs = brickyard_exec::output(
        &Cmd::new([
            "pvs",
            "--reportformat",
            "json",
            "-o",
            "pv_name,vg_name",
            device,
        ])
        .timeout(T_QUERY),
    )
    .await?;
    if !pvs.success() {
        // Not a PV LVM recognises (e.g. a stale label): leave it described by its signature.
        return Ok(());
    }
    let Some(vg) = parse::pvs_vg(&pvs.stdout)? else {
        return Ok(());
    };
    if !vg.is_empty() {
        // The name reaches `lvs`'s argv: keep to LVM's own character set.
        if vg.starts_with('-')
            || !vg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '_' | '.' | '-'))
        {
            return Err(ParseError {
                tool: "pvs",
                problem: format!("volume group name {vg:?} is not one LVM creates"),
            }
            .into());
        }
        let mut lvs = parse::lvs(
            &stdout(&[
                "lvs",
                "--reportformat",
                "json",
                "-o",
                "lv_name,vg_name,pool_lv,lv_attr,lv_path,segtype",
                &vg,
            ])
            .await?,
        )?;
        for lv in &mut lvs {
            let dev = layout::lv_path(&lv.vg, &lv.name);
            let active = std::fs::metadata(&dev).is_ok_and(|m| m.file_type().is_block_device());
            if active && lv.segtype != "thin-pool" {
                lv.signatures = Some(parse::wipefs(
                    &stdout(&["wipefs", "-n", "-J", &dev]).await?,
                )?);
            }
        }
        bd.lvs = lvs;
    }
    bd.pv = Some(crate::facts::PhysicalVolume { vg });
    Ok(())
}

fn dir_state(path: &Path) -> Result<DirState, GatherError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DirState::Missing),
        Err(e) => Err(read_err(path)(e)),
        Ok(m) if !m.is_dir() => Ok(DirState::NotADirectory),
        Ok(_) => {
            let mut entries = std::fs::read_dir(path).map_err(read_err(path))?;
            Ok(if entries.next().is_some() {
                DirState::NotEmpty
            } else {
                DirState::Empty
            })
        }
    }
}

fn package_defaults(dir: &Path) -> Result<Option<PackageDefaults>, GatherError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(dir)(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_err(dir))?;
        let is_file = entry.file_type().map_err(read_err(dir))?.is_file();
        // Only plain names: they become paths of the copies.
        if let Some(name) = entry.file_name().to_str()
            && is_file
            && !name.starts_with('.')
            && brickyard_model::names::check_abs_path(&format!("/{name}")).is_ok()
        {
            files.push(name.to_owned());
        }
    }
    files.sort();
    Ok(Some(PackageDefaults {
        dir: dir.display().to_string(),
        files,
    }))
}

/// A random UUID from the kernel, for a filesystem about to be made.
fn fresh_uuid() -> Result<String, GatherError> {
    let path = Path::new("/proc/sys/kernel/random/uuid");
    Ok(std::fs::read_to_string(path)
        .map_err(read_err(path))?
        .trim()
        .to_owned())
}

/// This machine's host name (of its UTS namespace).
pub fn hostname() -> Result<String, GatherError> {
    let path = Path::new("/proc/sys/kernel/hostname");
    Ok(std::fs::read_to_string(path)
        .map_err(read_err(path))?
        .trim()
        .to_owned())
}
