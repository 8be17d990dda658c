//! The user-space driver: opens the device through UIO, owns the DMA region (descriptor ring,
//! completion ring, a bump allocator for tensors), validates every descriptor before the
//! doorbell, and waits for completion on the UIO interrupt.

use crate::spec::{self, ctrl, irq, reg, status, Completion, DescError, Descriptor, Window};
use crate::uio::{self, find, open_node, page_size, Irq, IrqSource, Region, UioError, UioPaths};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Errors of the driver. None of them is fatal to the process; the backend falls back to the
/// CPU on every one.
#[derive(Debug, Error)]
pub enum DriverError {
    /// UIO layer (discovery, mapping, interrupt).
    #[error(transparent)]
    Uio(#[from] UioError),
    /// The registers do not identify a rhythm accelerator.
    #[error(
        "ID register reads {id:#010x}, version {version:#010x}: not a supported rhythm accelerator"
    )]
    NotOurDevice {
        /// ID register.
        id: u32,
        /// VERSION register.
        version: u32,
    },
    /// A path that does not name a UIO device node (`/dev/uioN`).
    #[error("{0:?} is not a UIO device node (expected /dev/uioN)")]
    BadNode(String),
    /// A map the device needs is missing or too small.
    #[error("device map {0} missing or too small")]
    BadMap(&'static str),
    /// A descriptor refused before the doorbell (nothing was sent).
    #[error("descriptor {index} refused: {source}")]
    Refused {
        /// Position in the submitted list.
        index: usize,
        /// Rule broken.
        #[source]
        source: DescError,
    },
    /// A descriptor needs a capability the device lacks.
    #[error("descriptor {index} needs capability {cap:#x}, device has {caps:#x}")]
    Unsupported {
        /// Position.
        index: usize,
        /// Needed bit.
        cap: u32,
        /// Device CAPS.
        caps: u32,
    },
    /// The device halted with an error.
    #[error("device error {code:?} at queue index {index}")]
    Device {
        /// `ERR_CODE`.
        code: spec::ErrorCode,
        /// `ERR_INDEX`.
        index: u32,
    },
    /// No completion within the timeout.
    #[error("device did not complete within {0:?}")]
    Timeout(Duration),
    /// `CTRL.RESET` did not self-clear.
    #[error("device did not leave reset")]
    ResetTimeout,
    /// The device is gone; this handle will only return errors.
    #[error("device vanished")]
    Gone,
    /// A completion record that does not match its descriptor.
    #[error("completion {index}: {why}")]
    BadCompletion {
        /// Position.
        index: usize,
        /// What did not match.
        why: &'static str,
    },
    /// The output in memory does not match the device's checksum.
    #[error("output of descriptor {index} corrupted (crc {got:#010x}, device said {want:#010x})")]
    OutputCorrupt {
        /// Position.
        index: usize,
        /// CRC of memory.
        got: u32,
        /// CRC in the completion record.
        want: u32,
    },
    /// The DMA region is full.
    #[error("out of DMA memory: need {need} bytes, {free} free")]
    OutOfDmaMemory {
        /// Requested.
        need: usize,
        /// Available.
        free: usize,
    },
    /// A host access outside an allocated buffer.
    #[error("DMA access [{offset}, +{len}) out of bounds")]
    DmaBounds {
        /// Offset in the region.
        offset: usize,
        /// Length.
        len: usize,
    },
}

impl From<DriverError> for rhythm::Error {
    fn from(e: DriverError) -> Self {
        rhythm::Error::Backend {
            backend: "accel".into(),
            source: Box::new(e),
        }
    }
}

/// Where DMA memory comes from. See `docs/accel.md` §DMA memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmaSource {
    /// A UIO map of the device (a `reserved-memory` carve-out listed as `mapN` of the same UIO
    /// node): the default on the target and in the simulator.
    UioMap(usize),
    /// A u-dma-buf buffer: `<class_root>/<name>/{phys_addr,size}` and node `<dev_root>/<name>`.
    Udmabuf {
        /// The u-dma-buf class directory (`/sys/class/u-dma-buf`).
        class_root: PathBuf,
        /// The device node directory (`/dev`).
        dev_root: PathBuf,
        /// Buffer name (`udmabuf0`).
        name: String,
    },
}

/// How to open the device.
#[derive(Debug)]
pub struct DeviceConfig {
    /// sysfs and /dev roots.
    pub paths: UioPaths,
    /// UIO name to look for.
    pub name: String,
    /// Which UIO device of that name (0: the first), unless `number` names one.
    pub instance: usize,
    /// Open exactly `uioN` (it must carry `name`): what `/dev/uioN` on a command line means.
    pub number: Option<usize>,
    /// Interrupt source.
    pub irq: IrqSource,
    /// DMA memory.
    pub dma: DmaSource,
    /// Descriptor ring slots (power of two).
    pub ring_slots: u32,
    /// Completion timeout.
    pub timeout: Duration,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            paths: UioPaths::default(),
            name: spec::UIO_NAME.to_string(),
            instance: 0,
            number: None,
            irq: IrqSource::DeviceNode,
            dma: DmaSource::UioMap(1),
            ring_slots: 256,
            timeout: Duration::from_millis(100),
        }
    }
}

/// Static properties of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwConfig {
    /// `CAPS`.
    pub caps: u32,
    /// PE array rows.
    pub rows: u32,
    /// PE array columns.
    pub cols: u32,
    /// Clock in MHz.
    pub clock_mhz: u32,
    /// DMA bytes per cycle.
    pub dma_bytes_per_cycle: u32,
}

/// Performance counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Perf {
    /// Busy cycles.
    pub cycles: u64,
    /// MACs.
    pub macs: u64,
    /// DMA bytes.
    pub dma_bytes: u64,
    /// Descriptors completed.
    pub descriptors: u32,
    /// Interrupts raised.
    pub irqs: u32,
}

/// A buffer in the DMA region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaBuf {
    /// Offset in the DMA region.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// Bus address the device uses.
    pub bus: u64,
}

/// An open device.
#[derive(Debug)]
pub struct Device {
    regs: Region,
    dma: Region,
    dma_bus: u64,
    irq: Irq,
    _node: File,
    _dma_node: Option<File>,
    hw: HwConfig,
    slots: u32,
    ring_off: usize,
    cpl_off: usize,
    data_off: usize,
    next_free: usize,
    tail: u32,
    batch: u32,
    timeout: Duration,
    write_window: Window,
    gone: bool,
    scratch: Vec<u8>,
}

fn align_up(x: usize, a: usize) -> usize {
    x.div_ceil(a) * a
}

impl DeviceConfig {
    /// The device at a UIO node such as `/dev/uio3` (sysfs at `/sys/class/uio`), with DMA
    /// memory from its second map.
    pub fn at_node(node: &Path) -> Result<DeviceConfig, DriverError> {
        let number = node
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_prefix("uio"))
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| DriverError::BadNode(node.display().to_string()))?;
        let dev_root = match node.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("/dev"),
        };
        Ok(DeviceConfig {
            paths: UioPaths {
                dev_root,
                ..UioPaths::default()
            },
            number: Some(number),
            ..DeviceConfig::default()
        })
    }
}

impl DmaSource {
    /// A u-dma-buf buffer by name (`udmabuf0`, or its node `/dev/udmabuf0`), under the
    /// standard `/sys/class/u-dma-buf` and `/dev`.
    pub fn udmabuf(name: &str) -> DmaSource {
        let name = name.rsplit('/').next().unwrap_or(name);
        DmaSource::Udmabuf {
            class_root: PathBuf::from("/sys/class/u-dma-buf"),
            dev_root: PathBuf::from("/dev"),
            name: name.to_string(),
        }
    }
}

impl Device {
    /// Finds, maps, identifies and resets the device, and programs its rings.
    pub fn open(cfg: DeviceConfig) -> Result<Device, DriverError> {
        let not_found = || UioError::NotFound {
            name: match cfg.number {
                Some(n) => format!("{} (as uio{n})", cfg.name),
                None => cfg.name.clone(),
            },
            root: cfg.paths.class_root.display().to_string(),
        };
        let infos = find(&cfg.paths.class_root, &cfg.name).map_err(|e| match e {
            UioError::NotFound { .. } => not_found(),
            e => e,
        })?;
        let chosen = match cfg.number {
            Some(n) => infos.iter().find(|i| i.number == n),
            None => infos.get(cfg.instance),
        };
        let info = chosen.ok_or_else(not_found)?;
        let page = page_size();
        let node = open_node(&cfg.paths, info.number)?;
        let m0 = info.maps.first().ok_or(DriverError::BadMap("registers"))?;
        if (m0.size as usize) < spec::REG_BLOCK_LEN {
            return Err(DriverError::BadMap("registers"));
        }
        let regs = Region::map(&node, m0, page)?;
        let (dma, dma_bus, dma_node) = match &cfg.dma {
            DmaSource::UioMap(i) => {
                let m = info.maps.get(*i).ok_or(DriverError::BadMap("dma"))?;
                (Region::map(&node, m, page)?, m.addr, None)
            }
            DmaSource::Udmabuf {
                class_root,
                dev_root,
                name,
            } => {
                let (r, bus, f) = map_udmabuf(class_root, dev_root, name)?;
                (r, bus, Some(f))
            }
        };
        let irq = Irq::new(&node, cfg.irq)?;
        let slots = cfg.ring_slots;
        if !slots.is_power_of_two() || slots > spec::MAX_RING_SLOTS {
            return Err(DriverError::BadMap(
                "ring_slots must be a power of two <= 4096",
            ));
        }
        // Rings need 4 KiB alignment; requiring it of the region keeps offsets = bus - base.
        if dma_bus % spec::RING_ALIGN != 0 {
            return Err(DriverError::BadMap("dma (bus address not 4 KiB aligned)"));
        }
        let ring_off = 0;
        let cpl_off = align_up(
            ring_off + slots as usize * spec::DESC_LEN,
            spec::RING_ALIGN as usize,
        );
        let data_off = align_up(
            cpl_off + slots as usize * spec::COMPLETION_LEN,
            spec::RING_ALIGN as usize,
        );
        if data_off >= dma.len() {
            return Err(DriverError::BadMap("dma (too small for the rings)"));
        }
        let id = regs.read32(reg::ID).unwrap_or(0);
        let version = regs.read32(reg::VERSION).unwrap_or(0);
        if id != spec::DEVICE_ID || version >> 16 != spec::DEVICE_VERSION >> 16 {
            return Err(DriverError::NotOurDevice { id, version });
        }
        let hwcfg = regs.read32(reg::HWCFG).unwrap_or(0);
        let hw = HwConfig {
            caps: regs.read32(reg::CAPS).unwrap_or(0),
            rows: hwcfg & 0xFF,
            cols: (hwcfg >> 8) & 0xFF,
            clock_mhz: hwcfg >> 16,
            dma_bytes_per_cycle: regs.read32(reg::DMACFG).unwrap_or(0),
        };
        let write_window = Window {
            start: dma_bus + data_off as u64,
            end: dma_bus + dma.len() as u64,
        };
        let mut dev = Device {
            regs,
            dma,
            dma_bus,
            irq,
            _node: node,
            _dma_node: dma_node,
            hw,
            slots,
            ring_off,
            cpl_off,
            data_off,
            next_free: data_off,
            tail: 0,
            batch: 0,
            timeout: cfg.timeout,
            write_window,
            gone: false,
            scratch: Vec::new(),
        };
        dev.reset()?;
        Ok(dev)
    }

    /// Static properties read at open.
    pub fn hw(&self) -> HwConfig {
        self.hw
    }

    /// Whether the device has vanished (every call now fails with [`DriverError::Gone`]).
    pub fn is_gone(&self) -> bool {
        self.gone
    }

    /// The bus-address window descriptors may read (tensors, weights; not the rings).
    pub fn data_window(&self) -> Window {
        Window {
            start: self.dma_bus + self.data_off as u64,
            end: self.dma_bus + self.dma.len() as u64,
        }
    }

    /// Restricts where descriptors may write (e.g. the activation arena only, so that no
    /// descriptor can overwrite weights). Must lie inside [`Self::data_window`].
    pub fn set_write_window(&mut self, w: Window) {
        let d = self.data_window();
        self.write_window = Window {
            start: w.start.max(d.start),
            end: w.end.min(d.end),
        };
    }

    /// Sets the completion timeout.
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    fn check(&self) -> Result<(), DriverError> {
        if self.gone {
            Err(DriverError::Gone)
        } else {
            Ok(())
        }
    }

    fn rd(&self, off: usize) -> u32 {
        self.regs.read32(off).unwrap_or(u32::MAX)
    }

    fn wr(&self, off: usize, v: u32) {
        self.regs.write32(off, v);
    }

    /// A vanished device reads all-ones (bus abort / removed map) in its ID register.
    fn probe_gone(&mut self) -> bool {
        if self.rd(reg::ID) != spec::DEVICE_ID {
            self.gone = true;
        }
        self.gone
    }

    fn gone_err(&mut self) -> DriverError {
        self.gone = true;
        DriverError::Gone
    }

    /// Resets the device, waits for it to leave reset and programs the rings. Used at open
    /// and after any fault (so that a late completion can never write into a new job).
    pub fn reset(&mut self) -> Result<(), DriverError> {
        self.check()?;
        self.wr(reg::CTRL, ctrl::RESET);
        let deadline = Instant::now() + Duration::from_millis(200);
        while self.rd(reg::CTRL) & ctrl::RESET != 0 {
            if self.probe_gone() {
                return Err(DriverError::Gone);
            }
            if Instant::now() > deadline {
                return Err(DriverError::ResetTimeout);
            }
            std::thread::sleep(Duration::from_micros(20));
        }
        if self.probe_gone() {
            return Err(DriverError::Gone);
        }
        let ring = self.dma_bus + self.ring_off as u64;
        let cpl = self.dma_bus + self.cpl_off as u64;
        self.wr(reg::CQ_BASE_LO, ring as u32);
        self.wr(reg::CQ_BASE_HI, (ring >> 32) as u32);
        self.wr(reg::CQ_SIZE, self.slots);
        self.wr(reg::CPL_BASE_LO, cpl as u32);
        self.wr(reg::CPL_BASE_HI, (cpl >> 32) as u32);
        self.wr(reg::CQ_TAIL, 0);
        self.tail = 0;
        self.wr(reg::IRQ_CLEAR, irq::DONE | irq::ERROR);
        self.wr(reg::IRQ_MASK, irq::DONE | irq::ERROR);
        self.wr(reg::CTRL, ctrl::ENABLE);
        match self.irq.arm() {
            Ok(()) => Ok(()),
            Err(UioError::Gone) => Err(self.gone_err()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reserves `len` bytes of DMA memory (64-byte aligned). Buffers live as long as the
    /// device handle; [`Self::free_all`] releases every buffer.
    pub fn alloc(&mut self, len: usize) -> Result<DmaBuf, DriverError> {
        self.check()?;
        // The region's bus address is 4 KiB aligned, so aligned offsets are aligned addresses.
        let start = align_up(self.next_free, spec::TENSOR_ALIGN as usize);
        let free = self.dma.len().saturating_sub(start);
        if len > free {
            return Err(DriverError::OutOfDmaMemory { need: len, free });
        }
        self.next_free = start + len;
        Ok(DmaBuf {
            offset: start,
            len,
            bus: self.dma_bus + start as u64,
        })
    }

    /// Releases every buffer.
    pub fn free_all(&mut self) {
        self.next_free = self.data_off;
    }

    /// Copies host bytes into `buf` at `at`.
    pub fn write(&self, buf: &DmaBuf, at: usize, data: &[u8]) -> Result<(), DriverError> {
        self.check()?;
        if at.checked_add(data.len()).is_none_or(|e| e > buf.len) {
            return Err(DriverError::DmaBounds {
                offset: buf.offset + at,
                len: data.len(),
            });
        }
        self.dma.write_bytes(buf.offset + at, data);
        Ok(())
    }

    /// Copies bytes of `buf` at `at` into `out`.
    pub fn read(&self, buf: &DmaBuf, at: usize, out: &mut [u8]) -> Result<(), DriverError> {
        self.check()?;
        if at.checked_add(out.len()).is_none_or(|e| e > buf.len) {
            return Err(DriverError::DmaBounds {
                offset: buf.offset + at,
                len: out.len(),
            });
        }
        self.dma.read_bytes(buf.offset + at, out);
        Ok(())
    }

    /// Validates descriptors without sending them.
    pub fn validate(&self, descs: &[Descriptor]) -> Result<(), DriverError> {
        let readable = self.data_window();
        for (index, d) in descs.iter().enumerate() {
            spec::validate(d, readable, self.write_window)
                .map_err(|source| DriverError::Refused { index, source })?;
            let cap = d.required_cap();
            if self.hw.caps & cap != cap {
                return Err(DriverError::Unsupported {
                    index,
                    cap,
                    caps: self.hw.caps,
                });
            }
        }
        Ok(())
    }

    /// Validates, publishes and waits for `descs` (in chunks of the ring size); then checks
    /// every completion record and, for the descriptors in `verify`, the output checksum.
    pub fn run(&mut self, descs: &[Descriptor], verify: &[usize]) -> Result<(), DriverError> {
        self.check()?;
        // Every descriptor is checked before the first doorbell: a bad list sends nothing.
        self.validate(descs)?;
        let chunk = self.slots as usize;
        for (c, part) in descs.chunks(chunk).enumerate() {
            let base = c * chunk;
            self.batch = self.batch.wrapping_add(1);
            let start = self.tail;
            for (i, d) in part.iter().enumerate() {
                let mut d = *d;
                // Only the last descriptor interrupts; tags identify batch and position.
                d.flags = if i + 1 == part.len() {
                    spec::flags::IRQ
                } else {
                    0
                };
                d.tag = (self.batch << 12) | (i as u32 & 0xFFF);
                let slot = (start.wrapping_add(i as u32) & (self.slots - 1)) as usize;
                self.dma
                    .write_bytes(self.ring_off + slot * spec::DESC_LEN, &d.encode());
                self.dma.write_bytes(
                    self.cpl_off + slot * spec::COMPLETION_LEN,
                    &[0xFF; spec::COMPLETION_LEN],
                );
            }
            let end = start.wrapping_add(part.len() as u32);
            // Descriptors and tensors must be visible before the doorbell.
            uio::dma_wmb();
            self.wr(reg::CQ_TAIL, end);
            self.tail = end;
            self.wait(end)?;
            uio::dma_rmb();
            for (i, d) in part.iter().enumerate() {
                let slot = (start.wrapping_add(i as u32) & (self.slots - 1)) as usize;
                let mut b = [0u8; spec::COMPLETION_LEN];
                self.dma
                    .read_bytes(self.cpl_off + slot * spec::COMPLETION_LEN, &mut b);
                let cpl = Completion::decode(&b);
                let index = base + i;
                if cpl.tag != ((self.batch << 12) | (i as u32 & 0xFFF)) {
                    return Err(DriverError::BadCompletion {
                        index,
                        why: "tag mismatch",
                    });
                }
                if cpl.status != 0 {
                    return Err(DriverError::Device {
                        code: spec::ErrorCode::from_u32(cpl.status),
                        index: start.wrapping_add(i as u32),
                    });
                }
                if verify.contains(&index) {
                    self.verify_output(index, d, cpl.out_crc)?;
                }
            }
        }
        Ok(())
    }

    fn verify_output(
        &mut self,
        index: usize,
        d: &Descriptor,
        want: u32,
    ) -> Result<(), DriverError> {
        let f = spec::validate(d, self.data_window(), self.write_window)
            .map_err(|source| DriverError::Refused { index, source })?;
        let (addr, len) = f.write;
        let off = (addr - self.dma_bus) as usize;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(len as usize, 0);
        self.dma.read_bytes(off, &mut scratch);
        let got = spec::output_crc(d, &scratch);
        self.scratch = scratch;
        if got != want {
            return Err(DriverError::OutputCorrupt { index, got, want });
        }
        Ok(())
    }

    fn wait(&mut self, end: u32) -> Result<(), DriverError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let st = self.rd(reg::STATUS);
            if st == u32::MAX && self.probe_gone() {
                return Err(DriverError::Gone);
            }
            if st & status::ERROR != 0 {
                let code = spec::ErrorCode::from_u32(self.rd(reg::ERR_CODE));
                let index = self.rd(reg::ERR_INDEX);
                self.wr(reg::IRQ_CLEAR, irq::ERROR | irq::DONE);
                return Err(DriverError::Device { code, index });
            }
            if self.rd(reg::CQ_HEAD) == end {
                self.wr(reg::IRQ_CLEAR, irq::DONE);
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                if self.probe_gone() {
                    return Err(DriverError::Gone);
                }
                return Err(DriverError::Timeout(self.timeout));
            }
            match self.irq.wait(deadline - now) {
                Ok(_) => {
                    // Acknowledge, then re-arm; the loop re-reads the state, so a spurious or
                    // stale interrupt only costs one more iteration.
                    self.wr(reg::IRQ_CLEAR, irq::DONE | irq::ERROR);
                    if let Err(UioError::Gone) = self.irq.arm() {
                        return Err(self.gone_err());
                    }
                }
                Err(UioError::Timeout(_)) => {}
                Err(UioError::Gone) => return Err(self.gone_err()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads the performance counters.
    pub fn perf(&self) -> Result<Perf, DriverError> {
        self.check()?;
        let rd64 = |lo: usize, hi: usize| {
            // LO first: the device latches HI on a LO read.
            let l = self.rd(lo) as u64;
            l | ((self.rd(hi) as u64) << 32)
        };
        Ok(Perf {
            cycles: rd64(reg::PERF_CYCLES_LO, reg::PERF_CYCLES_HI),
            macs: rd64(reg::PERF_MACS_LO, reg::PERF_MACS_HI),
            dma_bytes: rd64(reg::PERF_DMA_LO, reg::PERF_DMA_HI),
            descriptors: self.rd(reg::PERF_DESCS),
            irqs: self.rd(reg::PERF_IRQS),
        })
    }

    /// Reads the completion record of the `i`-th descriptor of the last chunk run (for the
    /// cycle counts of individual descriptors).
    pub fn last_completion(&self, i: usize, chunk_len: usize) -> Result<Completion, DriverError> {
        self.check()?;
        let start = self.tail.wrapping_sub(chunk_len as u32);
        let slot = (start.wrapping_add(i as u32) & (self.slots - 1)) as usize;
        let mut b = [0u8; spec::COMPLETION_LEN];
        self.dma
            .read_bytes(self.cpl_off + slot * spec::COMPLETION_LEN, &mut b);
        Ok(Completion::decode(&b))
    }

    /// Test only: publishes raw descriptor bytes *without* validation, to prove that the
    /// device refuses bad descriptors too. Not compiled into the library.
    #[cfg(test)]
    fn raw_doorbell(&mut self, desc: &[u8; spec::DESC_LEN]) -> Result<(), DriverError> {
        self.check()?;
        let slot = (self.tail & (self.slots - 1)) as usize;
        self.dma
            .write_bytes(self.ring_off + slot * spec::DESC_LEN, desc);
        uio::dma_wmb();
        let end = self.tail.wrapping_add(1);
        self.wr(reg::CQ_TAIL, end);
        self.tail = end;
        self.wait(end)
    }
}

fn map_udmabuf(
    class_root: &std::path::Path,
    dev_root: &std::path::Path,
    name: &str,
) -> Result<(Region, u64, File), DriverError> {
    let dir = class_root.join(name);
    let num = |attr: &str| -> Result<u64, DriverError> {
        let p = dir.join(attr);
        let s = std::fs::read_to_string(&p).map_err(|e| UioError::Sysfs {
            path: p.display().to_string(),
            why: e.to_string(),
        })?;
        let s = s.trim();
        let v = match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => s.parse(),
        };
        v.map_err(|_| {
            UioError::Sysfs {
                path: p.display().to_string(),
                why: format!("not a number: {s:?}"),
            }
            .into()
        })
    };
    let (bus, size) = (num("phys_addr")?, num("size")?);
    let path = dev_root.join(name);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| UioError::Io {
            what: format!("open {}", path.display()),
            source,
        })?;
    let m = uio::UioMap {
        index: 0,
        addr: bus,
        size,
        offset: 0,
    };
    Ok((Region::map(&f, &m, page_size())?, bus, f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Sim, SimConfig};
    use crate::spec::{ErrorCode, Opcode};

    /// A valid 1x1x64 rescale with its operands allocated.
    fn valid_rescale(dev: &mut Device) -> Descriptor {
        let a = dev.alloc(64).unwrap();
        let y = dev.alloc(64).unwrap();
        Descriptor {
            opcode: Opcode::Rescale as u8,
            act_min: -128,
            act_max: 127,
            in_shape: [1, 1, 64],
            out_shape: [1, 1, 64],
            in0: a.bus,
            out: y.bus,
            mult0: 1.0f32.to_bits() as i32,
            shift0: 0,
            p0: 64,
            p1: 64,
            ..Default::default()
        }
    }

    #[test]
    fn device_refuses_what_bypasses_the_driver() {
        let sim = Sim::start(SimConfig::default()).unwrap();
        let mut dev = Device::open(sim.device_config().unwrap()).unwrap();
        let good = valid_rescale(&mut dev);
        let cases: Vec<(ErrorCode, [u8; spec::DESC_LEN])> = vec![
            (ErrorCode::Reserved, {
                let mut b = good.encode();
                b[125] = 7;
                b
            }),
            (
                ErrorCode::AddressRange,
                Descriptor { in0: 0x10, ..good }.encode(),
            ),
            (
                ErrorCode::BadOpcode,
                Descriptor { opcode: 0, ..good }.encode(),
            ),
            (ErrorCode::BadShape, Descriptor { p0: 7, ..good }.encode()),
            // Interface 1.0's fixed-point rescale (M = 2^30, n = 30), and factors that are not
            // finite binary32 in [0, 2^30): refused, never computed.
            (
                ErrorCode::BadShape,
                Descriptor {
                    mult0: 1 << 30,
                    shift0: 30,
                    ..good
                }
                .encode(),
            ),
            (
                ErrorCode::BadShape,
                Descriptor {
                    mult0: f32::NAN.to_bits() as i32,
                    ..good
                }
                .encode(),
            ),
            (
                ErrorCode::BadShape,
                Descriptor {
                    mult0: (-1.0f32).to_bits() as i32,
                    ..good
                }
                .encode(),
            ),
        ];
        for (want, raw) in cases {
            match dev.raw_doorbell(&raw) {
                Err(DriverError::Device { code, .. }) => assert_eq!(code, want),
                other => panic!("expected device error {want:?}, got {other:?}"),
            }
            // Halted until reset; then usable again.
            dev.reset().unwrap();
            dev.run(&[good], &[0]).unwrap();
        }
        // A write into the rings is refused by the device, too.
        let data = dev.data_window();
        let raw = Descriptor {
            out: data.start - 4096,
            ..good
        }
        .encode();
        assert!(matches!(
            dev.raw_doorbell(&raw),
            Err(DriverError::Device {
                code: ErrorCode::AddressRange,
                ..
            })
        ));
    }
}
