//! Linux UIO plumbing: finding the device in sysfs, mapping its regions through the device
//! node, volatile register access with the barriers DMA needs, and the UIO interrupt protocol
//! (blocking `read` of a u32 event count, re-arm by writing an i32 `1`).
//!
//! Nothing here knows the simulator: the simulator builds a fake sysfs tree and a backing
//! file for the device node, and hands its interrupt end as an fd (see [`IrqSource`]).

use memmap2::{MmapOptions, MmapRaw};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Errors of the UIO layer.
#[derive(Debug, Error)]
pub enum UioError {
    /// No `uioN` with the requested name under the sysfs root.
    #[error("no UIO device named {name:?} under {root}")]
    NotFound {
        /// Name looked for.
        name: String,
        /// Sysfs class directory searched.
        root: String,
    },
    /// A sysfs attribute that cannot be read or parsed.
    #[error("bad sysfs attribute {path}: {why}")]
    Sysfs {
        /// Attribute path.
        path: String,
        /// What was wrong.
        why: String,
    },
    /// Opening or mapping the device node failed.
    #[error("{what}: {source}")]
    Io {
        /// What was attempted.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The device is gone (fd hung up, node removed, registers read all-ones).
    #[error("device vanished")]
    Gone,
    /// No interrupt within the timeout.
    #[error("no interrupt within {0:?}")]
    Timeout(Duration),
}

/// One memory region of a UIO device (`maps/mapN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UioMap {
    /// Index N: the region is mapped at offset `N · page_size` of the device node.
    pub index: usize,
    /// Physical (bus) address.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Offset of the region inside its first page.
    pub offset: u64,
}

/// A UIO device found in sysfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UioInfo {
    /// N of `uioN`.
    pub number: usize,
    /// Contents of `name`.
    pub name: String,
    /// Its regions, by index.
    pub maps: Vec<UioMap>,
}

fn read_attr(path: &Path) -> Result<String, UioError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| UioError::Sysfs {
            path: path.display().to_string(),
            why: e.to_string(),
        })
}

fn parse_num(path: &Path) -> Result<u64, UioError> {
    let s = read_attr(path)?;
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| UioError::Sysfs {
        path: path.display().to_string(),
        why: format!("not a number: {s:?}"),
    })
}

/// Lists the UIO devices under `class_root` (normally `/sys/class/uio`) whose `name` is
/// `name`, lowest N first.
pub fn find(class_root: &Path, name: &str) -> Result<Vec<UioInfo>, UioError> {
    let not_found = || UioError::NotFound {
        name: name.to_string(),
        root: class_root.display().to_string(),
    };
    let entries = std::fs::read_dir(class_root).map_err(|_| not_found())?;
    let mut found = Vec::new();
    for e in entries.flatten() {
        let fname = e.file_name();
        let Some(n) = fname
            .to_str()
            .and_then(|s| s.strip_prefix("uio"))
            .and_then(|s| s.parse::<usize>().ok())
        else {
            continue;
        };
        let dir = e.path();
        if read_attr(&dir.join("name")).ok().as_deref() != Some(name) {
            continue;
        }
        let mut maps = Vec::new();
        for index in 0.. {
            let m = dir.join("maps").join(format!("map{index}"));
            if !m.is_dir() {
                break;
            }
            maps.push(UioMap {
                index,
                addr: parse_num(&m.join("addr"))?,
                size: parse_num(&m.join("size"))?,
                offset: parse_num(&m.join("offset")).unwrap_or(0),
            });
        }
        found.push(UioInfo {
            number: n,
            name: name.to_string(),
            maps,
        });
    }
    found.sort_by_key(|i| i.number);
    if found.is_empty() {
        return Err(not_found());
    }
    Ok(found)
}

/// The system page size (UIO map N lives at offset `N · page_size`).
pub fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |v| v as usize)
}

/// A mapped region: a raw pointer and a length, accessed only through volatile or
/// bounds-checked copies.
#[derive(Debug)]
pub struct Region {
    map: MmapRaw,
    /// Offset of the region inside the mapping (UIO `offset`).
    start: usize,
    len: usize,
}

impl Region {
    /// Maps region `m` of an opened UIO node.
    pub fn map(node: &File, m: &UioMap, page: usize) -> Result<Region, UioError> {
        let io = |source| UioError::Io {
            what: format!("mmap map{}", m.index),
            source,
        };
        let start = m.offset as usize;
        let len = m.size as usize;
        let total = start.checked_add(len).ok_or_else(|| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "map size overflows",
            ))
        })?;
        let map = MmapOptions::new()
            .offset((m.index * page) as u64)
            .len(total)
            .map_raw(node)
            .map_err(io)?;
        Ok(Region { map, start, len })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn ptr(&self) -> *mut u8 {
        // In bounds: `start` is inside the mapping (mapped length is start + len).
        self.map.as_mut_ptr().wrapping_add(self.start)
    }

    /// Volatile 32-bit read at byte offset `off` (must be 4-aligned and in bounds, else `None`).
    pub fn read32(&self, off: usize) -> Option<u32> {
        if !off.is_multiple_of(4) || off.checked_add(4)? > self.len {
            return None;
        }
        // SAFETY: `off + 4 <= len` keeps the access inside the live mapping and the mapping
        // is page-aligned, so `off % 4 == 0` makes the pointer 4-byte aligned. Volatile
        // because the other side (hardware or the simulator thread) changes it.
        Some(u32::from_le(unsafe {
            std::ptr::read_volatile(self.ptr().add(off) as *const u32)
        }))
    }

    /// Volatile 32-bit write (ignored when misaligned or out of bounds; returns whether done).
    pub fn write32(&self, off: usize, v: u32) -> bool {
        if !off.is_multiple_of(4) || off.checked_add(4).is_none_or(|e| e > self.len) {
            return false;
        }
        // SAFETY: as in `read32`: in bounds and 4-byte aligned; volatile so that every
        // register write reaches the device, in program order.
        unsafe { std::ptr::write_volatile(self.ptr().add(off) as *mut u32, v.to_le()) };
        true
    }

    /// Copies `data` to byte offset `off` (bounds-checked).
    pub fn write_bytes(&self, off: usize, data: &[u8]) -> bool {
        if off.checked_add(data.len()).is_none_or(|e| e > self.len) {
            return false;
        }
        // SAFETY: the destination range is inside the mapping; `data` is a separate Rust
        // slice, so the ranges cannot overlap. The device does not access this range while
        // the driver writes it (ownership passes at the doorbell, after a write barrier).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr().add(off), data.len()) };
        true
    }

    /// Copies from byte offset `off` into `out` (bounds-checked).
    pub fn read_bytes(&self, off: usize, out: &mut [u8]) -> bool {
        if off.checked_add(out.len()).is_none_or(|e| e > self.len) {
            return false;
        }
        // SAFETY: the source range is inside the mapping and `out` is a distinct Rust
        // slice. The driver reads only after completion and a read barrier.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr().add(off), out.as_mut_ptr(), out.len()) };
        true
    }
}

/// Write barrier before a doorbell: all prior stores to DMA memory become visible to the
/// device before the following register store (Linux `wmb()`).
#[inline]
pub fn dma_wmb() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `dsb st` only orders memory accesses; it has no operands and touches no state
    // Rust knows about.
    unsafe {
        std::arch::asm!("dsb st", options(nostack, preserves_flags))
    };
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
}

/// Read barrier after observing completion: later loads from DMA memory see the device's
/// writes (Linux `rmb()`).
#[inline]
pub fn dma_rmb() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `dsb ld` only orders memory accesses; no operands, no Rust-visible state.
    unsafe {
        std::arch::asm!("dsb ld", options(nostack, preserves_flags))
    };
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
}

/// Where interrupts come from.
#[derive(Debug)]
pub enum IrqSource {
    /// The UIO device node itself (hardware).
    DeviceNode,
    /// Another fd speaking the UIO protocol (the simulator's socket end): a blocking `read`
    /// returns a native-endian u32 event count, `write` of an i32 `1` re-arms.
    Fd(OwnedFd),
}

/// The interrupt line of a UIO device.
#[derive(Debug)]
pub struct Irq {
    fd: OwnedFd,
    last_count: u32,
}

impl Irq {
    /// From the opened node or an explicit fd.
    pub fn new(node: &File, source: IrqSource) -> Result<Irq, UioError> {
        let fd = match source {
            IrqSource::DeviceNode => {
                node.as_fd()
                    .try_clone_to_owned()
                    .map_err(|source| UioError::Io {
                        what: "dup device fd".into(),
                        source,
                    })?
            }
            IrqSource::Fd(fd) => fd,
        };
        Ok(Irq { fd, last_count: 0 })
    }

    /// Re-enables the interrupt (UIO `irqcontrol`): writes an i32 `1`.
    pub fn arm(&self) -> Result<(), UioError> {
        match nix::unistd::write(&self.fd, &1i32.to_ne_bytes()) {
            Ok(4) => Ok(()),
            Ok(_) => Err(UioError::Gone),
            Err(nix::errno::Errno::EPIPE)
            | Err(nix::errno::Errno::ENODEV)
            | Err(nix::errno::Errno::ECONNRESET) => Err(UioError::Gone),
            Err(e) => Err(UioError::Io {
                what: "arm irq".into(),
                source: e.into(),
            }),
        }
    }

    /// Waits up to `timeout` for an interrupt; returns the event count.
    pub fn wait(&mut self, timeout: Duration) -> Result<u32, UioError> {
        // Round up: a sub-millisecond remainder must still block, not spin.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        let n = loop {
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(n) => break n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(UioError::Io {
                        what: "poll irq".into(),
                        source: e.into(),
                    })
                }
            }
        };
        if n == 0 {
            return Err(UioError::Timeout(timeout));
        }
        let rev = fds[0].revents().unwrap_or(PollFlags::empty());
        if rev.intersects(PollFlags::POLLERR | PollFlags::POLLNVAL)
            || (rev.contains(PollFlags::POLLHUP) && !rev.contains(PollFlags::POLLIN))
        {
            return Err(UioError::Gone);
        }
        let mut buf = [0u8; 4];
        match nix::unistd::read(&self.fd, &mut buf) {
            Ok(4) => {
                self.last_count = u32::from_ne_bytes(buf);
                Ok(self.last_count)
            }
            // EOF or a short read: the other end is gone.
            Ok(_) => Err(UioError::Gone),
            Err(nix::errno::Errno::EAGAIN) => Err(UioError::Timeout(timeout)),
            Err(_) => Err(UioError::Gone),
        }
    }
}

/// Paths the driver needs: where to look in sysfs and where device nodes live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UioPaths {
    /// The UIO class directory (`/sys/class/uio`).
    pub class_root: PathBuf,
    /// The directory of device nodes (`/dev`).
    pub dev_root: PathBuf,
}

impl Default for UioPaths {
    fn default() -> Self {
        UioPaths {
            class_root: PathBuf::from("/sys/class/uio"),
            dev_root: PathBuf::from("/dev"),
        }
    }
}

/// Opens `/dev/uioN` read-write with `O_SYNC` (uncached register mappings on hardware).
pub fn open_node(paths: &UioPaths, number: usize) -> Result<File, UioError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = paths.dev_root.join(format!("uio{number}"));
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_SYNC.bits())
        .open(&path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                UioError::Gone
            } else {
                UioError::Io {
                    what: format!("open {}", path.display()),
                    source,
                }
            }
        })
}
